//! `parity-mcp-fixture`: an MCP server over stdio (or, with `--http ADDR`, streamable HTTP at `/mcp`) whose tools and resources answer the same way every time, so that
//! a scenario recorded with upstream and replayed with rcodex sees identical tool results.
//!
//! Tools: `echo` (its text back), `weather` (structured content beside its text), `chart` (an image), `fail` (a
//! tool error), `sleep` (waits `ms` milliseconds, for the tool timeout). Resources: `fixture://notes.txt` and the
//! template `fixture://files/{name}`.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::{Value, json};

/// A 1x1 red PNG: small enough to keep captures readable.
const RED_PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

const NOTES: &str = "Water the plants on Tuesdays.\n";

struct Fixture;

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the fixture's literal JSON matches the MCP schema")
}

fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "title": "Echo",
            "description": "Returns the given text unchanged.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "The text to echo." } },
                "required": ["text"]
            },
            "annotations": { "readOnlyHint": true }
        },
        {
            "name": "weather",
            "description": "Reports the weather of a city as structured content.",
            "inputSchema": {
                "type": "object",
                "properties": { "city": { "type": "string" } },
                "required": ["city"]
            },
            "outputSchema": {
                "type": "object",
                "properties": {
                    "city": { "type": "string" },
                    "celsius": { "type": "number" },
                    "sky": { "type": "string" }
                },
                "required": ["city", "celsius", "sky"]
            },
            "annotations": { "readOnlyHint": true }
        },
        {
            "name": "chart",
            "description": "Draws a chart and returns it as a PNG image.",
            "inputSchema": { "type": "object", "properties": {} },
            "annotations": { "readOnlyHint": true }
        },
        {
            "name": "fail",
            "description": "Always fails with the given reason.",
            "inputSchema": {
                "type": "object",
                "properties": { "reason": { "type": "string" } }
            },
            "annotations": { "readOnlyHint": true }
        },
        {
            "name": "sleep",
            "description": "Waits for the given number of milliseconds, then says so.",
            "inputSchema": {
                "type": "object",
                "properties": { "ms": { "type": "integer", "minimum": 0 } },
                "required": ["ms"]
            },
            "annotations": { "readOnlyHint": true }
        },
        {
            "name": "write_note",
            "description": "Pretends to save a note (changes nothing, but says it writes).",
            "inputSchema": {
                "type": "object",
                "properties": { "note": { "type": "string" } },
                "required": ["note"]
            },
            "annotations": { "readOnlyHint": false, "destructiveHint": true }
        }
    ])
}

fn text_result(text: String, is_error: bool) -> CallToolResult {
    from_json(json!({ "content": [{ "type": "text", "text": text }], "isError": is_error }))
}

async fn call(name: &str, args: &serde_json::Map<String, Value>) -> Result<CallToolResult, ErrorData> {
    let string = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(match name {
        "echo" => text_result(string("text"), false),
        "weather" => {
            let city = string("city");
            from_json(json!({
                "content": [{ "type": "text", "text": format!("{city}: 21 degrees, clear") }],
                "structuredContent": { "city": city, "celsius": 21, "sky": "clear" },
                "isError": false
            }))
        }
        "chart" => from_json(json!({
            "content": [
                { "type": "text", "text": "A chart of one red pixel." },
                { "type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png" }
            ],
            "isError": false
        })),
        "fail" => text_result(format!("fixture failure: {}", string("reason")), true),
        "sleep" => {
            let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text_result(format!("slept {ms} ms"), false)
        }
        "write_note" => text_result(format!("saved: {}", string("note")), false),
        other => return Err(ErrorData::invalid_params(format!("unknown tool: {other}"), None)),
    })
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build());
        config.server_info = from_json::<Implementation>(json!({ "name": "parity-mcp-fixture", "version": "1.0.0" }));
        config
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(from_json(json!({ "tools": tools() })))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        call(&request.name, &args).await.map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(from_json(json!({ "resources": [{
            "uri": "fixture://notes.txt",
            "name": "notes",
            "description": "The household notes.",
            "mimeType": "text/plain"
        }] })))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(from_json(json!({ "resourceTemplates": [{
            "uriTemplate": "fixture://files/{name}",
            "name": "files",
            "description": "A file of the fixture by name.",
            "mimeType": "text/plain"
        }] })))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        let text = if uri == "fixture://notes.txt" {
            NOTES.to_string()
        } else if let Some(name) = uri.strip_prefix("fixture://files/") {
            format!("The file {name}.\n")
        } else {
            return Err(ErrorData::resource_not_found(format!("no resource {uri}"), None));
        };
        Ok(from_json::<ReadResourceResult>(json!({
            "contents": [{ "uri": uri, "mimeType": "text/plain", "text": text }]
        }))
        .into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => serve_stdio().await,
        [flag, address] if flag == "--http" => serve_http(address).await,
        _ => {
            eprintln!("usage: parity-mcp-fixture [--http ADDRESS]   (stdio without it; 127.0.0.1:0 picks a port)");
            std::process::exit(2);
        }
    }
}

async fn serve_stdio() {
    let service = match Fixture.serve(rmcp::transport::stdio()).await {
        Ok(service) => service,
        Err(e) => {
            eprintln!("parity-mcp-fixture: the MCP handshake failed: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = service.waiting().await {
        eprintln!("parity-mcp-fixture: {e}");
        std::process::exit(1);
    }
}

/// Serves streamable HTTP at `http://ADDRESS/mcp` until killed; the URL is the first line on stdout, once bound.
async fn serve_http(address: &str) {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    use std::io::Write as _;

    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("parity-mcp-fixture: cannot listen on {address}: {e}");
            std::process::exit(1);
        }
    };
    let bound = listener.local_addr().expect("a bound listener has an address");
    let service = StreamableHttpService::new(
        || Ok(Fixture),
        std::sync::Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    println!("http://{bound}/mcp");
    let _ = std::io::stdout().flush();
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("parity-mcp-fixture: {e}");
        std::process::exit(1);
    }
}
