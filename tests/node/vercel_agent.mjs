// A Node.js agent on the Vercel AI SDK (ai 7) with its OpenTelemetry integration (@ai-sdk/otel),
// exporting through OpenTelemetry JS's OTLP/HTTP protobuf exporter, configured only by the standard
// environment variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS).
// The model is OpenAI's chat API at LLM_BASE_URL. Two questions, each its own generateText run
// with a get_weather tool (the second city is unknown, so that tool call fails and the model answers
// the error), then one call the provider rejects. Prints nothing: the provider's records are the
// tests' ground truth.
import { OpenTelemetry } from "@ai-sdk/otel";
import { createOpenAI } from "@ai-sdk/openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { generateText, jsonSchema, registerTelemetry, stepCountIs, tool } from "ai";

const AGENT = "weather-bot-vercel";
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": AGENT }),
  spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
});
registerTelemetry(new OpenTelemetry({ tracer: provider.getTracer("ai") }));

const openai = createOpenAI({ baseURL: `${process.env.LLM_BASE_URL}/v1`, apiKey: "sk-test" });
const FORECASTS = { Paris: "Sunny, 22°C" };
const getWeather = tool({
  description: "Get the current weather for a city.",
  inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
  execute: async ({ city }) => {
    if (!(city in FORECASTS)) throw new Error(`Unknown city: ${city}`);
    return `${FORECASTS[city]} in ${city}`;
  },
});

for (const question of ["What's the weather in Paris?", "And what is the weather in Atlantis?"]) {
  await generateText({
    model: openai.chat("gpt-4o-mini"),
    system: `You are ${AGENT}. Answer weather questions with the get_weather tool.`,
    prompt: question,
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(5),
    maxRetries: 0,
    telemetry: { functionId: AGENT },
  });
}
try {
  await generateText({ model: openai.chat("gpt-4o-mini-error"), prompt: "Hello", maxRetries: 0, telemetry: { functionId: AGENT } });
} catch (error) {
  // the provider rejected the model: the span records the error
}
await provider.shutdown();
