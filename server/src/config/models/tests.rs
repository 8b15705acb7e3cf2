//! The catalog's checks, on `[models]` tables as a config file (or, in JSON, the S3 object) writes
//! them.

use super::*;

/// The `[models]` of a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    models: BTreeMap<String, ModelConfig>,
}

fn parse(text: &str) -> Result<BTreeMap<String, ModelConfig>, toml::de::Error> {
    toml::from_str::<File>(text).map(|file| file.models)
}

/// `text` parsed, then checked as a catalog.
fn checked(text: &str) -> Result<BTreeMap<String, ModelConfig>, ConfigError> {
    let models = parse(text).expect("parses");
    validate(&models)?;
    Ok(models)
}

fn rejected_key(text: &str) -> String {
    match checked(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn target_mistakes_name_their_key() {
    let cases = [
        ("[models.chat]\nversion = \"v\"", "models.chat.model_id"),
        ("[models.chat]\nmodel_id = \"m\"\ntargets = [{ model_id = \"a\", version = \"a\" }]", "models.chat.targets"),
        ("[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\", weight = 0 }]", "models.chat.targets"),
        ("[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\" }]\nversion = \"v\"", "models.chat.version"),
        (
            "[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\" }]\nregion = \"eu-west-1\"",
            "models.chat.region",
        ),
        (
            "[models.chat]\ntargets = [{ model_id = \"a\", version = \"v\" }, { model_id = \"b\", version = \"v\" }]",
            "models.chat.targets[1].version",
        ),
        ("[models.chat]\ntargets = [{ model_id = \" \", version = \"a\" }]", "models.chat.targets[0].model_id"),
        ("[models.chat]\ntargets = [{ model_id = \"a\", version = \"v1\" }]", ""),
        (
            "[models.chat]\nmodel_id = \"m\"\nfallbacks = [{ model_id = \"b\", version = \"backup\", weight = 2 }]",
            "models.chat.fallbacks[0].weight",
        ),
        (
            "[models.chat]\nmodel_id = \"m\"\nfallbacks = [{ model_id = \"arn:aws:bedrock:x\", version = \"arn:x\" }]",
            "models.chat.fallbacks[0].version",
        ),
        ("[models.chat]\nmodel_id = \"m\"\nsticky_metadata_key = \"\"", "models.chat.sticky_metadata_key"),
    ];
    for (toml, key) in cases {
        match checked(toml) {
            Ok(_) => assert_eq!(key, "", "{toml} was accepted"),
            Err(err) => assert_eq!(rejected_key(toml), key, "{toml}: {err}"),
        }
    }
}

#[test]
fn role_arns_are_iam_roles_and_name_their_key() {
    let role = |arn: &str| format!("[models.chat]\nmodel_id = \"m\"\nrole_arn = \"{arn}\"\n");
    for arn in [
        "arn:aws:iam::111122223333:role/bedrock-invoker",
        "arn:aws:iam::111122223333:role/platform/bedrock/invoker+team=a,b.c@d_e",
        "arn:aws-cn:iam::111122223333:role/invoker",
        "arn:aws-us-gov:iam::111122223333:role/invoker",
    ] {
        let models = checked(&role(arn)).unwrap_or_else(|err| panic!("{arn}: {err}"));
        assert_eq!(models["chat"].role_arn.as_deref(), Some(arn));
    }
    for arn in [
        "",
        "111122223333",
        "arn:aws:iam::11112222333:role/invoker",
        "arn:aws:iam::1111222233334:role/invoker",
        "arn:aws:iam:us-east-1:111122223333:role/invoker",
        "arn:aws:sts::111122223333:assumed-role/invoker/session",
        "arn:aws:iam::111122223333:user/invoker",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role//invoker",
        "arn:aws:iam::111122223333:role/in voker",
        "arn:azure:iam::111122223333:role/invoker",
        &format!("arn:aws:iam::111122223333:role/{}", "r".repeat(65)),
    ] {
        assert_eq!(rejected_key(&role(arn)), "models.chat.role_arn", "{arn:?} was accepted");
    }
    let err = checked(&role("arn:aws:iam::1:role/x")).unwrap_err().to_string();
    assert!(err.contains("is not an IAM role ARN: arn:<partition>:iam::<12-digit account>:role/"), "{err}");

    let targets = |second: &str| {
        format!(
            "[models.chat]\ntargets = [{{ model_id = \"a\", version = \"va\", role_arn = \"arn:aws:iam::111122223333:role/x\" }}, \
             {{ model_id = \"b\", version = \"vb\"{second} }}]\n\
             fallbacks = [{{ model_id = \"c\", version = \"vc\", role_arn = \"arn:aws:iam::444455556666:role/y\" }}]\n"
        )
    };
    let models = checked(&targets("")).unwrap();
    let chat = &models["chat"];
    assert_eq!(chat.targets[0].role_arn.as_deref(), Some("arn:aws:iam::111122223333:role/x"));
    assert_eq!((chat.targets[1].role_arn.as_deref(), chat.fallbacks[0].role_arn.is_some()), (None, true));
    assert_eq!(rejected_key(&targets(", role_arn = \"role/x\"")), "models.chat.targets[1].role_arn");
    let fallback =
        "[models.chat]\nmodel_id = \"m\"\nfallbacks = [{ model_id = \"c\", version = \"vc\", role_arn = \"x\" }]\n";
    assert_eq!(rejected_key(fallback), "models.chat.fallbacks[0].role_arn");
    let both = format!("{}role_arn = \"arn:aws:iam::111122223333:role/x\"\n", targets(""));
    assert_eq!(rejected_key(&both), "models.chat.role_arn", "with targets, each has its own");
}

#[test]
fn lifecycle_mistakes_name_their_key() {
    let chat = "[models.chat]\nmodel_id = \"c\"\n";
    let cases = [
        (
            "[models.old]\nmodel_id = \"x\"\nretires_on = \"2027-02-31\"\nreplacement = \"chat\"",
            "models.old.retires_on",
        ),
        (
            "[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nretires_on = \"2099-01-01\"",
            "models.old.replacement",
        ),
        ("[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nreplacement = \"old\"", "models.old.replacement"),
        ("[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"gone\"", "models.old.replacement"),
        (
            "[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"mid\"\n\
             [models.mid]\nmodel_id = \"y\"\nstate = \"deprecated\"\nreplacement = \"chat\"",
            "models.old.replacement",
        ),
        (
            "[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"past\"\n\
             [models.past]\nmodel_id = \"y\"\nretires_on = \"2020-01-01\"\nreplacement = \"chat\"",
            "models.old.replacement",
        ),
        (
            "[models.a]\nmodel_id = \"x\"\nreplacement = \"b\"\n[models.b]\nmodel_id = \"y\"\nreplacement = \"a\"",
            "models.a.replacement",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(rejected_key(&format!("{chat}{text}\n")), key, "{text}");
    }
    let err = checked(&format!("{chat}[models.old]\nmodel_id = \"x\"\nretires_on = \"2027-02-31\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"2027-02-31\" is not a calendar date"), "{err}");
    let err = checked(&format!("{chat}[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"past\"\n[models.past]\nmodel_id = \"y\"\nretires_on = \"2020-01-01\"\nreplacement = \"chat\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"past\" is retired on 2020-01-01"), "{err}");
    let cycle = checked(&format!("{chat}{}\n", cases[6].0)).unwrap_err().to_string();
    assert!(cycle.contains("a -> b -> a"), "{cycle}");
    // A model that retires later, pointing at an active one, is fine; so is one already past
    // its day, which the catalog then refuses at request time.
    for ok in [
        "[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nretires_on = \"2099-12-31\"\nreplacement = \"chat\"",
        "[models.old]\nmodel_id = \"x\"\nretires_on = \"2020-02-29\"\nreplacement = \"chat\"",
    ] {
        checked(&format!("{chat}{ok}\n")).unwrap();
    }
}

#[test]
fn per_model_request_defaults_are_checked() {
    let models = checked(
        "[models.chat]\nmodel_id = \"c\"\nmax_tokens_cap = 8000\ndefault_max_tokens = 500\ntemperature = 0.3\n\
         top_p = 0.9\nguardrail = { id = \"abc123\", version = \"2\" }\n\
         prompt_caching = { after_system = true }\n\
         additional_request_fields = { thinking = { type = \"enabled\", budget_tokens = 2048 } }\n\
         [models.small]\nmodel_id = \"s\"\nmax_tokens_cap = 600\n",
    )
    .unwrap();
    let chat = &models["chat"];
    assert_eq!(chat.effective_default_max_tokens(), 500);
    assert_eq!(models["small"].effective_default_max_tokens(), 600, "1024, or the cap when lower");
    assert_eq!(chat.guardrail.as_ref().unwrap().stream_processing_mode, StreamProcessingMode::Sync);
    assert_eq!(chat.prompt_caching, PromptCachingConfig { after_system: true, after_tools: false });
    let with = |line: &str| format!("[models.chat]\nmodel_id = \"c\"\nmax_tokens_cap = 1000\n{line}\n");
    for (line, key) in [
        ("default_max_tokens = 1001", "models.chat.default_max_tokens"),
        ("default_max_tokens = 0", "models.chat.default_max_tokens"),
        ("temperature = 1.5", "models.chat.temperature"),
        ("top_p = -0.1", "models.chat.top_p"),
        ("guardrail = { id = \"Bad Id\", version = \"1\" }", "models.chat.guardrail.id"),
        ("guardrail = { id = \"abc\", version = \"latest\" }", "models.chat.guardrail.version"),
        ("version = \"c\"", "models.chat.version"),
        ("version = \"arn:aws:bedrock:us-east-1:123456789012:inference-profile/x\"", "models.chat.version"),
    ] {
        assert_eq!(rejected_key(&with(line)), key, "{line}");
    }
    for line in [
        "guardrail = { id = \"abc\", version = \"1\", mode = \"sync\" }",
        "prompt_caching = { after_everything = true }",
        "guardrail = { id = \"abc\", version = \"1\", stream_processing_mode = \"later\" }",
    ] {
        assert!(parse(&with(line)).is_err(), "{line}");
    }
}

#[test]
fn calendar_dates() {
    assert_eq!(calendar_date("2027-01-31"), time::Date::from_calendar_date(2027, time::Month::January, 31).ok());
    assert!(calendar_date("2028-02-29").is_some(), "a leap day");
    for bad in ["2027-02-31", "2027-02-29", "2027-13-01", "2027-00-10", "27-01-01", "2027-1-01", "2027-01-31-1", ""] {
        assert_eq!(calendar_date(bad), None, "{bad}");
    }
}

#[test]
fn a_model_built_in_code_is_the_one_a_file_writes_with_its_model_id_alone() {
    assert_eq!(ModelConfig::new("m"), parse("[models.chat]\nmodel_id = \"m\"\n").unwrap()["chat"]);
    assert_eq!(ModelConfig::new("m").max_tokens_cap, 4096);
}
