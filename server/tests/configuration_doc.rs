//! docs/CONFIGURATION.md against the code. The keys the configuration accepts are traced from its
//! `Deserialize` impls (every struct's field names, nested), so no second list is kept by hand: a
//! key accepted but not documented fails, a key documented but not accepted fails, and so does a
//! TOML example of the page that does not load as a configuration (or, marked complete, does not
//! pass start-up's checks).

use std::collections::BTreeSet;

use bedrock_gateway::Config;
use bedrock_gateway::config::ModelConfig;
use serde::Deserialize;
use serde_reflection::{ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig};

const PAGE: &str = include_str!("../../docs/CONFIGURATION.md");

/// What a key holds, as far as key paths go.
enum Shape {
    /// A value: its path is a key and nothing is below it.
    Value,
    /// A table (a struct), or a list of them (`[[...]]`): its fields are below its path.
    Table(String),
    /// Tables by a name the file chooses (`[tenants.<name>]`): their fields are below `<path>.*`.
    NamedTables(String),
    /// Not traced.
    Unknown,
}

/// Traces every struct the configuration deserializes.
fn registry() -> Registry {
    let mut tracer = Tracer::new(TracerConfig::default());
    let samples = Samples::new();
    // Free-form JSON (`additional_request_fields`) deserializes through `deserialize_any`, which
    // cannot be traced: the attempt that meets it records its map and fails, and the next one cuts
    // the exploration there. The models first: their free-form fields come before their
    // capabilities, which a trace of the whole would then never reach.
    trace::<ModelConfig>(&mut tracer, &samples);
    trace::<Config>(&mut tracer, &samples);
    tracer.registry_unchecked()
}

fn trace<'de, T: Deserialize<'de>>(tracer: &mut Tracer, samples: &'de Samples) {
    for _ in 0..10 {
        match tracer.trace_type::<T>(samples) {
            Ok(_) => return,
            Err(serde_reflection::Error::NotSupported("deserialize_any")) => {}
            Err(err) => panic!("tracing {}: {err}", std::any::type_name::<T>()),
        }
    }
    panic!("tracing {}: still meeting free-form values after 10 attempts", std::any::type_name::<T>());
}

fn shape(registry: &Registry, format: &Format) -> Shape {
    match format {
        Format::Variable(variable) => match &*variable.borrow() {
            Some(format) => shape(registry, format),
            None => Shape::Unknown,
        },
        Format::Option(inner) | Format::Seq(inner) => shape(registry, inner),
        Format::TypeName(name) if matches!(registry.get(name), Some(ContainerFormat::Struct(_))) => {
            Shape::Table(name.clone())
        }
        Format::Map { value, .. } => match shape(registry, value) {
            Shape::Table(name) => Shape::NamedTables(name),
            _ => Shape::Value,
        },
        _ => Shape::Value,
    }
}

/// Every key path of struct `name` under `prefix`, a name the file chooses written `*`.
fn keys_of(registry: &Registry, name: &str, prefix: &str, keys: &mut BTreeSet<String>) {
    let Some(ContainerFormat::Struct(fields)) = registry.get(name) else {
        panic!("{name} was not traced as a struct");
    };
    for field in fields {
        let key = if prefix.is_empty() { field.name.clone() } else { format!("{prefix}.{}", field.name) };
        match shape(registry, &field.value) {
            Shape::Value => {}
            Shape::Table(table) => keys_of(registry, &table, &key, keys),
            Shape::NamedTables(table) => keys_of(registry, &table, &format!("{key}.*"), keys),
            Shape::Unknown => panic!("`{key}` was not traced"),
        }
        keys.insert(key);
    }
}

/// `<name>` placeholders as `*`.
fn generic(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').map_or(rest.len(), |end| start + end + 1);
        out.push_str(&rest[..start]);
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The keys the page documents: the tables its headings name (`[server]`, `[[models.<name>.targets]]`,
/// several to a heading) and the first cell of each table row under them.
fn documented() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut tables = Vec::new();
    for line in PAGE.lines() {
        if line.starts_with('#') {
            tables = line
                .split('`')
                .skip(1)
                .step_by(2)
                .filter_map(|code| code.trim_start_matches('[').strip_suffix(']'))
                .map(|table| generic(table.trim_end_matches(']')))
                .collect();
            for table in &tables {
                keys.insert(table.strip_suffix(".*").unwrap_or(table).to_owned());
            }
        } else if let Some(row) = line.strip_prefix("| `") {
            let key = row.split('`').next().unwrap_or_default();
            assert!(!tables.is_empty(), "a row of keys under a heading that names no table: {line}");
            for table in &tables {
                keys.insert(format!("{table}.{key}"));
            }
        }
    }
    keys
}

#[test]
fn every_key_the_configuration_accepts_is_documented_and_every_documented_key_is_accepted() {
    let registry = registry();
    let mut accepted = BTreeSet::new();
    keys_of(&registry, "Config", "", &mut accepted);
    // Sanity: the trace reached the deepest tables, past the free-form fields.
    for key in [
        "models.*.capabilities.max_embed_texts",
        "models.*.targets.weight",
        "tenants.*.model_quotas.*.tokens_per_minute",
    ] {
        assert!(accepted.contains(key), "{key} not traced: {accepted:#?}");
    }
    let documented = documented();
    let undocumented: Vec<_> = accepted.difference(&documented).collect();
    assert!(undocumented.is_empty(), "accepted but not in docs/CONFIGURATION.md: {undocumented:#?}");
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(unknown.is_empty(), "in docs/CONFIGURATION.md but not accepted by the configuration: {unknown:#?}");
}

#[test]
fn every_example_loads_and_the_complete_one_passes_start_up_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut examples = 0;
    let mut complete = 0;
    let mut previous = "";
    let mut lines = PAGE.lines();
    while let Some(line) = lines.next() {
        if line == "```toml" {
            let text: String =
                lines.by_ref().take_while(|line| *line != "```").map(|line| format!("{line}\n")).collect();
            examples += 1;
            let file = dir.path().join(format!("example-{examples}.toml"));
            std::fs::write(&file, &text).unwrap();
            let config = Config::load(Some(&file)).unwrap_or_else(|err| panic!("example {examples}: {err}\n{text}"));
            if previous.starts_with("<!-- complete") {
                complete += 1;
                config.validate().unwrap_or_else(|err| panic!("complete example {examples}: {err}\n{text}"));
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    assert!(examples > 1 && complete == 1, "{examples} examples, {complete} complete");
}
