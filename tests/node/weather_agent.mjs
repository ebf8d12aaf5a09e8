// A Node.js agent instrumented by hand with the OpenTelemetry JS API and the GenAI semantic
// conventions, exporting through OpenTelemetry JS's own OTLP/HTTP protobuf exporter, configured
// only by the standard environment variables the README shows:
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_COMPRESSION.
// It asks LLM_BASE_URL (an OpenAI-compatible provider) two weather questions, runs a get_weather
// tool for each (the second city is unknown, so that tool call fails), and prints the provider's
// usage objects as JSON on stdout, one line per call: the tests' ground truth.
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

const AGENT = "weather-bot-js";
const MODEL = "gpt-4o-mini";
const FORECASTS = { Paris: "Sunny, 22°C" };
const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather for a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": AGENT }),
  spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
});
const tracer = provider.getTracer("weather-agent-js");
const usages = [];

async function chat(parent, messages) {
  const span = tracer.startSpan(`chat ${MODEL}`, {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": MODEL,
    },
  }, trace.setSpan(context.active(), parent));
  const response = await fetch(`${process.env.LLM_BASE_URL}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test" },
    body: JSON.stringify({ model: MODEL, messages, tools: [WEATHER_TOOL] }),
  });
  const body = await response.json();
  usages.push(body.usage);
  span.setAttributes({
    "gen_ai.response.model": body.model,
    "gen_ai.response.id": body.id,
    "gen_ai.usage.input_tokens": body.usage.prompt_tokens,
    "gen_ai.usage.output_tokens": body.usage.completion_tokens,
    "gen_ai.usage.cache_read.input_tokens": body.usage.prompt_tokens_details.cached_tokens,
    "gen_ai.response.finish_reasons": [body.choices[0].finish_reason],
  });
  span.end();
  return body.choices[0].message;
}

function getWeather(parent, call) {
  const { city } = JSON.parse(call.function.arguments);
  const span = tracer.startSpan(`execute_tool ${call.function.name}`, {
    attributes: {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": call.function.name,
      "gen_ai.tool.call.id": call.id,
      "gen_ai.tool.call.arguments": call.function.arguments,
    },
  }, trace.setSpan(context.active(), parent));
  try {
    if (!(city in FORECASTS)) throw new Error(`Unknown city: ${city}`);
    const result = `${FORECASTS[city]} in ${city}`;
    span.setAttribute("gen_ai.tool.call.result", result);
    return result;
  } catch (error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    span.setAttribute("error.type", "Error");
    return `Error: ${error.message}`;
  } finally {
    span.end();
  }
}

const agent = tracer.startSpan(`invoke_agent ${AGENT}`, {
  attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT },
});
const messages = [{ role: "system", content: `You are ${AGENT}. Answer weather questions with the get_weather tool.` }];
for (const question of ["What's the weather in Paris?", "And what is the weather in Atlantis?"]) {
  messages.push({ role: "user", content: question });
  const asked = await chat(agent, messages);
  messages.push(asked);
  for (const call of asked.tool_calls ?? []) {
    messages.push({ role: "tool", tool_call_id: call.id, content: getWeather(agent, call) });
  }
  const answer = await chat(agent, messages);
  messages.push({ role: "assistant", content: answer.content });
}
agent.end();
await provider.shutdown();  // flushes the batch: one export, piped (chunked) by the exporter
for (const usage of usages) console.log(JSON.stringify(usage));
