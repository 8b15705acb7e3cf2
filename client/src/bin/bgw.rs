//! `bgw`: the gateway from the command line, for trying models and for scripts.
//!
//! It is a thin layer over the library: what works here works the same in a service.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bedrock_gateway_client::{Catalog, Client, EmbedRequest, Error, Event, Request, v1};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the call failed (connection, unknown model, permission denied, throttled, ...)
  2  invalid command line
  3  the answer is incomplete: cut off, or malformed (what arrived was printed)";

/// Talk to a bedrock-gateway.
#[derive(Debug, Parser)]
#[command(name = "bgw", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

/// Where the gateway is and how to reach it.
#[derive(Debug, Args)]
struct Connection {
    /// The gateway's URL (https:// for TLS).
    #[arg(long, global = true, env = "BGW_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    endpoint: String,
    /// API key, sent as `authorization: Bearer <key>`.
    #[arg(long, global = true, env = "BGW_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// CA certificate (PEM file) to trust for the gateway's certificate, instead of the system's.
    #[arg(long, global = true, env = "BGW_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// Client certificate (PEM file) for mutual TLS; needs --client-key.
    #[arg(long, global = true, env = "BGW_CLIENT_CERT", requires = "client_key")]
    client_cert: Option<std::path::PathBuf>,
    /// Private key (PEM file) of the client certificate.
    #[arg(long, global = true, env = "BGW_CLIENT_KEY", requires = "client_cert")]
    client_key: Option<std::path::PathBuf>,
    /// Deadline for the whole call, like 30s, 500ms or 2m.
    #[arg(long, global = true, env = "BGW_TIMEOUT", value_parser = parse_duration)]
    timeout: Option<Duration>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask a model; prints the answer as it arrives and a summary on stderr.
    Chat(Chat),
    /// Count the input tokens a prompt would use with a model; prints the count.
    Count(Count),
    /// Turn texts into vectors with an embedding model; prints JSON.
    Embed(Embed),
    /// List the gateway's logical models: their kind, state and capabilities, then the catalog's
    /// revision.
    Models {
        /// Print one JSON object per model, each with the catalog's revision.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct Chat {
    /// The logical model (see `bgw models`).
    #[arg(long, short)]
    model: String,
    /// A system prompt.
    #[arg(long, short)]
    system: Option<String>,
    /// Put a prompt-cache point after the system prompt, so that later calls with the same one
    /// read it from the cache (on models with prompt caching).
    #[arg(long, requires = "system")]
    cache_system: bool,
    /// The most tokens to generate.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Randomness, from 0.0 to 1.0.
    #[arg(long)]
    temperature: Option<f32>,
    /// Ask the model to reason first, this hard; the reasoning goes to stderr.
    #[arg(long, value_enum)]
    reasoning: Option<Effort>,
    /// Ask for a JSON answer conforming to the JSON Schema in this file (named after the file).
    #[arg(long, value_name = "FILE")]
    json_schema: Option<std::path::PathBuf>,
    /// Print each event as one JSON line instead of the text.
    #[arg(long)]
    json: bool,
    /// The prompt; read from stdin when absent.
    prompt: Option<String>,
}

#[derive(Debug, Args)]
struct Count {
    /// The logical model (see `bgw models`).
    #[arg(long, short)]
    model: String,
    /// A system prompt, counted with the prompt.
    #[arg(long, short)]
    system: Option<String>,
    /// The prompt; read from stdin when absent.
    prompt: Option<String>,
}

#[derive(Debug, Args)]
struct Embed {
    /// The embedding model (see `bgw models`).
    #[arg(long, short)]
    model: String,
    /// The vectors' length, one the model offers (default: its first).
    #[arg(long)]
    dimensions: Option<u32>,
    /// Leave the vectors unscaled instead of scaling them to length 1.
    #[arg(long)]
    no_normalize: bool,
    /// What the vectors are for.
    #[arg(long, value_enum, default_value = "document")]
    purpose: Purpose,
    /// Print every value of each vector instead of the first 8.
    #[arg(long)]
    full: bool,
    /// The texts, one vector each.
    #[arg(required = true)]
    texts: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Purpose {
    Document,
    Query,
    Classification,
    Clustering,
}

/// How hard the model reasons.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Effort {
    Low,
    Medium,
    High,
}

impl From<Effort> for v1::ReasoningEffort {
    fn from(effort: Effort) -> v1::ReasoningEffort {
        match effort {
            Effort::Low => v1::ReasoningEffort::Low,
            Effort::Medium => v1::ReasoningEffort::Medium,
            Effort::High => v1::ReasoningEffort::High,
        }
    }
}

/// The format name and schema of `--json-schema FILE`: the file's stem, cleaned to a format
/// name, and its content, which must be a JSON object.
fn json_schema(path: &std::path::Path) -> Result<(String, String), Failure> {
    let schema = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the JSON schema {}: {e}", path.display())))?;
    if !serde_json::from_str::<serde_json::Value>(&schema).is_ok_and(|value| value.is_object()) {
        return Err(Failure::Usage(format!("{} does not hold a JSON object", path.display())));
    }
    let stem = path.file_stem().map(|stem| stem.to_string_lossy()).unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push_str("answer");
    }
    Ok((name, schema))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(text.trim().find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let number: f64 = number.parse().map_err(|_| format!("invalid duration {text:?}: use 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("invalid duration unit in {text:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// What went wrong, for the one-line message and the exit code.
enum Failure {
    /// The call failed.
    Call(Error),
    /// The command line (or a file it names) is unusable.
    Usage(String),
    /// Writing to stdout failed.
    Output(std::io::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Call(error)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match build_client(&cli.connection) {
        Ok(client) => match cli.command {
            Command::Chat(chat) => run_chat(&client, chat).await,
            Command::Count(count) => run_count(&client, count).await,
            Command::Embed(embed) => run_embed(&client, embed).await,
            Command::Models { json } => run_models(&client, json).await,
        },
        Err(failure) => Err(failure),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`bgw chat ... | head -1`): nothing left to do.
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(error)) => {
            eprintln!("bgw: error: cannot write to stdout: {error}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("bgw: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Call(error)) => {
            match error.request_id() {
                Some(id) => eprintln!("bgw: error: {error} (request id {id})"),
                None => eprintln!("bgw: error: {error}"),
            }
            ExitCode::from(if error.is_incomplete() { 3 } else { 1 })
        }
    }
}

fn build_client(connection: &Connection) -> Result<Client, Failure> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
    };
    let mut builder = Client::builder(&connection.endpoint).user_agent(concat!("bgw/", env!("CARGO_PKG_VERSION")));
    if let Some(key) = &connection.api_key {
        builder = builder.api_key(key);
    }
    if let Some(path) = &connection.ca_cert {
        builder = builder.ca_certificate_pem(read(path)?);
    }
    if let (Some(cert), Some(key)) = (&connection.client_cert, &connection.client_key) {
        builder = builder.client_identity_pem(read(cert)?, read(key)?);
    }
    if let Some(timeout) = connection.timeout {
        builder = builder.deadline(timeout);
    }
    builder.build().map_err(|e| Failure::Usage(e.message()))
}

/// The prompt given as an argument, else stdin's (when it is not a terminal).
fn read_prompt(prompt: Option<String>) -> Result<String, Failure> {
    let prompt = match prompt {
        Some(prompt) => prompt,
        None if std::io::stdin().is_terminal() => {
            return Err(Failure::Usage("no prompt: give it as an argument or on stdin".to_owned()));
        }
        None => {
            let mut prompt = String::new();
            std::io::stdin()
                .read_to_string(&mut prompt)
                .map_err(|e| Failure::Usage(format!("cannot read the prompt from stdin: {e}")))?;
            prompt
        }
    };
    if prompt.trim().is_empty() {
        return Err(Failure::Usage("the prompt is empty".to_owned()));
    }
    Ok(prompt)
}

async fn run_count(client: &Client, count: Count) -> Result<(), Failure> {
    let prompt = read_prompt(count.prompt)?;
    let mut request = Request::new(count.model);
    if let Some(system) = count.system {
        request = request.system(system);
    }
    let counted = client.count_tokens(request.user(prompt.trim_end())).await?;
    writeln!(std::io::stdout(), "{}", counted.input_tokens).map_err(Failure::Output)
}

async fn run_embed(client: &Client, embed: Embed) -> Result<(), Failure> {
    let purpose = match embed.purpose {
        Purpose::Document => v1::EmbeddingPurpose::SearchDocument,
        Purpose::Query => v1::EmbeddingPurpose::SearchQuery,
        Purpose::Classification => v1::EmbeddingPurpose::Classification,
        Purpose::Clustering => v1::EmbeddingPurpose::Clustering,
    };
    let mut request = EmbedRequest::new(embed.model).texts(embed.texts).purpose(purpose);
    if let Some(dimensions) = embed.dimensions {
        request = request.dimensions(dimensions);
    }
    if embed.no_normalize {
        request = request.normalize(false);
    }
    let embeddings = client.embed(request).await?;
    let vectors: Vec<_> = embeddings
        .vectors
        .iter()
        .map(|vector| {
            let norm = vector.iter().map(|value| f64::from(*value).powi(2)).sum::<f64>().sqrt();
            let shown = if embed.full { vector.as_slice() } else { &vector[..vector.len().min(8)] };
            json!({"norm": norm, "values": shown})
        })
        .collect();
    let line = json!({
        "model": embeddings.model,
        "model_version": embeddings.model_version,
        "dimensions": embeddings.dimensions,
        "input_tokens": embeddings.input_tokens,
        "embeddings": vectors,
    });
    writeln!(std::io::stdout(), "{line}").map_err(Failure::Output)
}

async fn run_chat(client: &Client, chat: Chat) -> Result<(), Failure> {
    let prompt = read_prompt(chat.prompt)?;
    let mut request = Request::new(chat.model);
    if let Some(system) = chat.system {
        request = request.system(system);
        if chat.cache_system {
            request = request.cache_point();
        }
    }
    request = request.user(prompt.trim_end());
    if let Some(max_tokens) = chat.max_tokens {
        request = request.max_tokens(max_tokens);
    }
    if let Some(temperature) = chat.temperature {
        request = request.temperature(temperature);
    }
    if let Some(effort) = chat.reasoning {
        request = request.reasoning(effort.into());
    }
    if let Some(path) = &chat.json_schema {
        let (name, schema) = json_schema(path)?;
        request = request.json_schema(name, schema);
    }

    let started = Instant::now();
    let mut events = client.converse_stream(request).await?;
    let mut out = std::io::stdout().lock();
    let mut printer = Printer {
        json: chat.json,
        first_token: None,
        tool_input: String::new(),
        ended_line: true,
        reasoning_line: false,
    };
    let (mut stop_reason, mut usage) = (None, None);
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                if chat.json {
                    let code = format!("{:?}", error.code());
                    let line = json!({
                        "type": "error",
                        "code": code,
                        "message": error.message(),
                        "incomplete": error.is_incomplete(),
                    });
                    let _ = writeln!(out, "{line}");
                } else if !printer.ended_line {
                    let _ = writeln!(out);
                }
                return Err(error.into());
            }
        };
        if printer.first_token.is_none()
            && matches!(
                event,
                Event::Text { .. }
                    | Event::ToolUseStart { .. }
                    | Event::Reasoning { .. }
                    | Event::RedactedReasoning { .. }
            )
        {
            printer.first_token = Some(started.elapsed());
        }
        match &event {
            Event::Stop { reason } => stop_reason = Some(*reason),
            Event::Usage { usage: tokens, .. } => usage = Some(*tokens),
            _ => {}
        }
        printer.print(&mut out, event).map_err(Failure::Output)?;
    }
    if !printer.ended_line {
        let _ = writeln!(out);
    }
    if let (Some(reason), Some(usage)) = (stop_reason, usage) {
        let ttft = printer.first_token.map_or("-".to_owned(), |t| format!("{} ms", t.as_millis()));
        let cache = match (usage.cache_read_input_tokens, usage.cache_write_input_tokens) {
            (0, 0) => String::new(),
            (read, written) => format!(" · cache {read} read / {written} written"),
        };
        eprintln!(
            "ttft {ttft} · {} in / {} out tokens{cache} · {} · {:.2} s",
            usage.input_tokens,
            usage.output_tokens,
            stop_reason_name(reason),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Writes events as text or JSON lines.
struct Printer {
    json: bool,
    first_token: Option<Duration>,
    tool_input: String,
    ended_line: bool,
    /// Whether reasoning text was written to stderr without its line ended.
    reasoning_line: bool,
}

impl Printer {
    fn print(&mut self, out: &mut impl Write, event: Event) -> std::io::Result<()> {
        if self.json {
            writeln!(out, "{}", event_json(&event))?;
            return out.flush();
        }
        // Reasoning goes to stderr, so that stdout is the answer alone (a JSON answer stays JSON).
        let mut err = std::io::stderr().lock();
        match &event {
            Event::Reasoning { text, .. } => {
                write!(err, "{text}")?;
                self.reasoning_line = true;
                return err.flush();
            }
            Event::RedactedReasoning { data, .. } => {
                writeln!(err, "[redacted reasoning: {} bytes]", data.len())?;
                return err.flush();
            }
            _ if self.reasoning_line => {
                writeln!(err)?;
                self.reasoning_line = false;
            }
            _ => {}
        }
        match event {
            Event::Text { text, .. } => {
                write!(out, "{text}")?;
                self.ended_line = text.ends_with('\n');
            }
            Event::ToolUseStart { name, tool_use_id, .. } => {
                if !self.ended_line {
                    writeln!(out)?;
                }
                write!(out, "[tool use {name} ({tool_use_id}): ")?;
                self.tool_input.clear();
                self.ended_line = false;
            }
            Event::ToolInput { json, .. } => self.tool_input.push_str(&json),
            Event::BlockStop { .. } if !self.tool_input.is_empty() => {
                writeln!(out, "{}]", self.tool_input)?;
                self.tool_input.clear();
                self.ended_line = true;
            }
            _ => {}
        }
        out.flush()
    }
}

fn event_json(event: &Event) -> serde_json::Value {
    match event {
        Event::Start { request_id, model, model_version } => {
            json!({"type": "start", "request_id": request_id, "model": model, "model_version": model_version})
        }
        Event::ToolUseStart { index, tool_use_id, name } => {
            json!({"type": "tool_use_start", "index": index, "tool_use_id": tool_use_id, "name": name})
        }
        Event::Text { index, text } => json!({"type": "text", "index": index, "text": text}),
        Event::ToolInput { index, json } => json!({"type": "tool_input", "index": index, "json": json}),
        Event::Reasoning { index, text } => json!({"type": "reasoning", "index": index, "text": text}),
        Event::ReasoningSignature { index, signature } => {
            json!({"type": "reasoning_signature", "index": index, "signature": signature})
        }
        Event::RedactedReasoning { index, data } => {
            json!({"type": "redacted_reasoning", "index": index, "bytes": data.len()})
        }
        Event::BlockStop { index } => json!({"type": "block_stop", "index": index}),
        Event::Stop { reason } => json!({"type": "stop", "reason": stop_reason_name(*reason)}),
        Event::Usage { usage, time_to_first_token, total } => json!({
            "type": "usage",
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_write_input_tokens": usage.cache_write_input_tokens,
            "time_to_first_token_ms": time_to_first_token.map(|d| d.as_millis() as u64),
            "total_ms": total.map(|d| d.as_millis() as u64),
        }),
        other => json!({"type": "unknown", "debug": format!("{other:?}")}),
    }
}

/// `end_turn` for `STOP_REASON_END_TURN`.
fn stop_reason_name(reason: v1::StopReason) -> String {
    reason.as_str_name().trim_start_matches("STOP_REASON_").to_ascii_lowercase()
}

/// `chat` for `MODEL_KIND_CHAT`.
fn kind_name(kind: v1::ModelKind) -> String {
    kind.as_str_name().trim_start_matches("MODEL_KIND_").to_ascii_lowercase()
}

fn modality_names(capabilities: &v1::ModelCapabilities) -> Vec<String> {
    capabilities
        .input_modalities()
        .map(|modality| modality.as_str_name().trim_start_matches("MODALITY_").to_ascii_lowercase())
        .collect()
}

fn capabilities_json(capabilities: &v1::ModelCapabilities) -> serde_json::Value {
    json!({
        "input_modalities": modality_names(capabilities),
        "tools": capabilities.tools,
        "reasoning": capabilities.reasoning,
        "structured_output": capabilities.structured_output,
        "prompt_caching": capabilities.prompt_caching,
        "count_tokens": capabilities.count_tokens,
        "context_window": capabilities.context_window,
        "embedding_dimensions": capabilities.embedding_dimensions,
        "max_embed_texts": capabilities.max_embed_texts,
    })
}

/// One line: the modalities, then what the model offers, such as
/// `text+image tools,reasoning,count 200k` or `text dims=1024/512/256`.
fn capabilities_summary(capabilities: &v1::ModelCapabilities) -> String {
    let mut summary = modality_names(capabilities).join("+");
    let offered: Vec<&str> = [
        (capabilities.tools, "tools"),
        (capabilities.reasoning, "reasoning"),
        (capabilities.structured_output, "json"),
        (capabilities.prompt_caching, "cache"),
        (capabilities.count_tokens, "count"),
    ]
    .into_iter()
    .filter_map(|(offered, name)| offered.then_some(name))
    .collect();
    if !offered.is_empty() {
        summary.push(' ');
        summary.push_str(&offered.join(","));
    }
    if !capabilities.embedding_dimensions.is_empty() {
        let dimensions: Vec<String> = capabilities.embedding_dimensions.iter().map(u32::to_string).collect();
        summary.push_str(&format!(" dims={}", dimensions.join("/")));
    }
    if capabilities.context_window > 0 {
        summary.push_str(&format!(" ctx={}k", capabilities.context_window / 1000));
    }
    summary
}

/// `active` for `MODEL_STATE_ACTIVE`.
fn state_name(state: v1::ModelState) -> String {
    state.as_str_name().trim_start_matches("MODEL_STATE_").to_ascii_lowercase()
}

async fn run_models(client: &Client, json: bool) -> Result<(), Failure> {
    let Catalog { revision, models } = client.catalog().await?;
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock, line: String| writeln!(out, "{line}").map_err(Failure::Output);
    if json {
        for model in models {
            let line = json!({
                "name": model.name,
                "kind": kind_name(model.kind()),
                "state": state_name(model.state()),
                "version": model.version,
                "max_tokens_cap": model.max_tokens_cap,
                "replacement": (!model.replacement.is_empty()).then_some(&model.replacement),
                "retires_on": (!model.retires_on.is_empty()).then_some(&model.retires_on),
                "description": model.description,
                "capabilities": model.capabilities.as_ref().map(capabilities_json),
                "catalog_revision": revision,
            });
            write(&mut out, line.to_string())?;
        }
        return Ok(());
    }
    let width = models.iter().map(|m| m.name.len()).max().unwrap_or(0).max(4);
    let summaries: Vec<String> =
        models.iter().map(|model| model.capabilities.as_ref().map(capabilities_summary).unwrap_or_default()).collect();
    let summary_width = summaries.iter().map(String::len).max().unwrap_or(0).max(12);
    write(
        &mut out,
        format!(
            "{:width$}  {:9}  {:10}  {:>10}  {:summary_width$}  {}",
            "NAME", "KIND", "STATE", "MAX TOKENS", "CAPABILITIES", "DESCRIPTION"
        ),
    )?;
    for (model, capabilities) in models.into_iter().zip(summaries) {
        let mut description = model.description.clone();
        if !model.replacement.is_empty() {
            description.push_str(&format!(" (use {} instead", model.replacement));
            if !model.retires_on.is_empty() {
                description.push_str(&format!("; retires on {}", model.retires_on));
            }
            description.push(')');
        }
        let state = state_name(model.state());
        let kind = kind_name(model.kind());
        write(
            &mut out,
            format!(
                "{:width$}  {kind:9}  {state:10}  {:>10}  {capabilities:summary_width$}  {description}",
                model.name, model.max_tokens_cap
            ),
        )?;
    }
    write(&mut out, format!("catalog revision {revision}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
