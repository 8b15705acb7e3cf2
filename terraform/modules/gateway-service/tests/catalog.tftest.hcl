# The model catalog: the S3 object's JSON (one target, a canary with a
# fallback, per-alias defaults), where it is and who may read it, the
# grants its targets imply, that editing it changes the object only, and
# the validations that mirror the gateway's.

mock_provider "aws" {
  source = "./tests"
}

mock_provider "aws" {
  alias  = "bedrock"
  source = "./tests"
}

variables {
  allowed_principals = ["arn:aws:iam::222222222222:root"]
  models = {
    "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
  }
}

run "single_target_alias" {
  command = apply

  assert {
    condition     = jsondecode(aws_s3_object.catalog.content) == { models = { chat = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" } } }
    error_message = "A one-line alias is written as its model_id alone: unset attributes are left out so that the gateway's defaults apply."
  }
  assert {
    condition = (
      aws_s3_object.catalog.bucket == aws_s3_bucket.catalog.id
      && aws_s3_object.catalog.key == "catalog.json"
      && aws_s3_object.catalog.content_type == "application/json"
      && aws_s3_object.catalog.server_side_encryption == "aws:kms"
      && aws_s3_object.catalog.kms_key_id == aws_kms_key.this.arn
    )
    error_message = "The catalog is one JSON object, encrypted with the module's key."
  }
  assert {
    condition = (
      aws_s3_bucket_versioning.catalog.versioning_configuration[0].status == "Enabled"
      && one(aws_s3_bucket_server_side_encryption_configuration.catalog.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
      && one(aws_s3_bucket_server_side_encryption_configuration.catalog.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this.arn
      && aws_s3_bucket_public_access_block.catalog.block_public_acls && aws_s3_bucket_public_access_block.catalog.block_public_policy
      && aws_s3_bucket_public_access_block.catalog.ignore_public_acls && aws_s3_bucket_public_access_block.catalog.restrict_public_buckets
      && aws_s3_bucket_ownership_controls.catalog.rule[0].object_ownership == "BucketOwnerEnforced"
      && jsondecode(aws_s3_bucket_policy.catalog.policy).Statement[0].Condition == { Bool = { "aws:SecureTransport" = "false" } }
    )
    error_message = "The catalog bucket is private (public access blocked, no ACLs, TLS only), versioned and KMS-encrypted."
  }
  assert {
    condition = {
      for k, v in output.container_environment : k => v if startswith(k, "BEDROCK_GATEWAY_CATALOG__")
      } == {
      "BEDROCK_GATEWAY_CATALOG__S3__BUCKET"  = "bedrock-gateway-catalog-20250101000000000000000001"
      "BEDROCK_GATEWAY_CATALOG__S3__KEY"     = "catalog.json"
      "BEDROCK_GATEWAY_CATALOG__S3__REGION"  = "eu-west-1"
      "BEDROCK_GATEWAY_CATALOG__RELOAD_SECS" = "15"
    }
    error_message = "The container is told where the catalog is (bucket, key, the bucket's region) and how often to check it."
  }
  assert {
    condition     = length([for k in keys(output.container_environment) : k if startswith(k, "BEDROCK_GATEWAY_MODELS__")]) == 0
    error_message = "No BEDROCK_GATEWAY_MODELS__* variables: with catalog.s3 the gateway refuses to start with them."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.task_catalog.policy).Statement == [
      {
        Sid      = "ReadCatalogAndTenants"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["arn:aws:s3:::bedrock-gateway-catalog-20250101000000000000000001/catalog.json", "arn:aws:s3:::bedrock-gateway-catalog-20250101000000000000000001/tenants.json"]
      },
      {
        Sid      = "DecryptCatalog"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.this.arn]
        Condition = {
          StringEquals = {
            "kms:ViaService"                   = "s3.eu-west-1.amazonaws.com"
            "kms:EncryptionContext:aws:s3:arn" = "arn:aws:s3:::bedrock-gateway-catalog-20250101000000000000000001"
          }
        }
      },
    ]
    error_message = "The task role may GetObject the catalog and tenants objects alone (not the bucket, not other keys), and decrypt it only through S3."
  }
  assert {
    condition = jsondecode(aws_vpc_endpoint.s3[0].policy).Statement[1] == {
      Sid       = "GatewayCatalogAndTenants"
      Effect    = "Allow"
      Principal = { AWS = aws_iam_role.task.arn }
      Action    = ["s3:GetObject"]
      Resource  = ["arn:aws:s3:::bedrock-gateway-catalog-20250101000000000000000001/catalog.json", "arn:aws:s3:::bedrock-gateway-catalog-20250101000000000000000001/tenants.json"]
    }
    error_message = "The S3 gateway endpoint admits the task role's GetObject of the catalog object."
  }
  assert {
    condition     = output.catalog.uri == "s3://bedrock-gateway-catalog-20250101000000000000000001/catalog.json" && output.catalog.version_id == aws_s3_object.catalog.version_id
    error_message = "The catalog output names the object and the version written."
  }
}

# The state holds run "single_target_alias"; a plan with another catalog
# must leave the task definition as it is: the same environment, secrets and
# image, and no model of either catalog anywhere in it.
run "catalog_edit_changes_the_object_only" {
  command = plan

  variables {
    models = {
      "chat" = {
        targets = [
          { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3", weight = 90 },
          { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5", weight = 10 },
        ]
      }
      "sonnet" = { model_id = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens_cap = 8192 }
    }
  }

  assert {
    condition = (
      { for e in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment : e.name => e.value } == run.single_target_alias.container_environment
      && lookup(jsondecode(aws_ecs_task_definition.this.container_definitions)[0], "secrets", []) == []
      && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].image == run.single_target_alias.container_image
    )
    error_message = "A catalog edit must not change the task definition (no new revision, no deployment)."
  }
  assert {
    condition     = !strcontains(aws_ecs_task_definition.this.container_definitions, "claude") && !strcontains(aws_ecs_task_definition.this.container_definitions, "haiku")
    error_message = "No model id or version of the catalog may be in the task definition."
  }
  assert {
    condition     = keys(jsondecode(aws_s3_object.catalog.content).models) == ["chat", "sonnet"]
    error_message = "The edit is in the catalog object."
  }
}

run "canary_with_a_fallback" {
  command = apply

  variables {
    models = {
      "chat" = {
        description         = "General chat"
        max_tokens_cap      = 8192
        default_max_tokens  = 1024
        sticky_metadata_key = "conversation_id"
        targets = [
          { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5", weight = 90 },
          {
            model_id                  = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
            version                   = "sonnet-4.5"
            weight                    = 10
            additional_request_fields = jsonencode({ thinking = { type = "enabled", budget_tokens = 2048 } })
          },
        ]
        fallbacks = [{ model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5" }]
      }
    }
  }

  assert {
    condition = jsondecode(aws_s3_object.catalog.content) == {
      models = {
        chat = {
          description         = "General chat"
          max_tokens_cap      = 8192
          default_max_tokens  = 1024
          sticky_metadata_key = "conversation_id"
          targets = [
            { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5", weight = 90 },
            {
              model_id                  = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
              version                   = "sonnet-4.5"
              weight                    = 10
              additional_request_fields = { thinking = { type = "enabled", budget_tokens = 2048 } }
            },
          ]
          fallbacks = [{ model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5" }]
        }
      }
    }
    error_message = "A canary is written as weighted targets with their versions, per-target request fields as JSON, and the fallback after them."
  }
  assert {
    condition = output.bedrock_model_arns == tolist([
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
      "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ])
    error_message = "Every target and the fallback are granted: each profile, and its model in any region through it (the global profile's also region-less)."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.bedrock_throttles)) == toset(["eu.anthropic.claude-haiku-4-5-20251001-v1:0", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"])
    error_message = "Every target and fallback gets Bedrock's throttle alarm."
  }
}

run "per_alias_defaults_and_lifecycle" {
  command = apply

  variables {
    models = {
      "chat" = {
        model_id       = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
        version        = "haiku-4.5"
        region         = "eu-west-1"
        temperature    = 0.5
        top_p          = 0.9
        guardrail      = { id = "abc123", version = "1" }
        prompt_caching = { after_system = true }
      }
      "old-chat" = {
        model_id    = "anthropic.claude-3-haiku-20240307-v1:0"
        version     = "haiku-3"
        state       = "deprecated"
        replacement = "chat"
        retires_on  = "2099-12-31"
      }
    }
  }

  assert {
    condition = jsondecode(aws_s3_object.catalog.content).models == {
      chat = {
        model_id       = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
        version        = "haiku-4.5"
        region         = "eu-west-1"
        temperature    = 0.5
        top_p          = 0.9
        guardrail      = { id = "abc123", version = "1" }
        prompt_caching = { after_system = true }
      }
      old-chat = {
        model_id    = "anthropic.claude-3-haiku-20240307-v1:0"
        version     = "haiku-3"
        state       = "deprecated"
        replacement = "chat"
        retires_on  = "2099-12-31"
      }
    }
    error_message = "Per-alias defaults and the lifecycle are written as given, nested unset attributes left out too."
  }
}

# An embedding alias and a chat alias with capabilities: kind and every
# capability set are written as given, unset ones left out (the gateway's
# defaults apply); a fallback in another account runs as its role, so the
# task role gets no grant of its model, only the role to assume.
run "capabilities_kind_and_a_fallback_in_another_account" {
  command = apply

  variables {
    models = {
      "reasoning" = {
        model_id     = "us.anthropic.claude-sonnet-4-20250514-v1:0"
        version      = "sonnet-4"
        capabilities = { reasoning = "anthropic_thinking", structured_output = "native", count_tokens = true, context_window = 200000 }
        fallbacks    = [{ model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0", version = "sonnet-3.7-b", role_arn = "arn:aws:iam::222222222222:role/bedrock-for-gateway" }]
      }
      "embed" = {
        model_id     = "cohere.embed-english-v3"
        version      = "cohere-v3"
        kind         = "embedding"
        capabilities = { input_modalities = ["text"], tools = false, embedding_format = "cohere_embed", embedding_dimensions = [1024], max_embed_texts = 96 }
      }
    }
  }

  assert {
    condition = jsondecode(aws_s3_object.catalog.content).models == {
      reasoning = {
        model_id     = "us.anthropic.claude-sonnet-4-20250514-v1:0"
        version      = "sonnet-4"
        capabilities = { reasoning = "anthropic_thinking", structured_output = "native", count_tokens = true, context_window = 200000 }
        fallbacks    = [{ model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0", version = "sonnet-3.7-b", role_arn = "arn:aws:iam::222222222222:role/bedrock-for-gateway" }]
      }
      embed = {
        model_id     = "cohere.embed-english-v3"
        version      = "cohere-v3"
        kind         = "embedding"
        capabilities = { input_modalities = ["text"], tools = false, embedding_format = "cohere_embed", embedding_dimensions = [1024], max_embed_texts = 96 }
      }
    }
    error_message = "kind, capabilities and a fallback's role_arn are written as given, unset capabilities left out."
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.task.policy, "claude-3-7-sonnet") && strcontains(aws_iam_role_policy.task.policy, "arn:aws:iam::222222222222:role/bedrock-for-gateway")
    error_message = "A fallback in another account is not granted to the task role; its role is, to assume."
  }
}

# Targets in two regions: each is granted where it is called; the
# bedrock-runtime endpoint admits the same (it serves its own region, the
# egress CIDR stands for a path to the other).
run "targets_in_two_regions" {
  command = apply

  variables {
    task_egress_cidr_blocks = ["10.60.0.0/16"]
    models = {
      "chat" = {
        targets = [
          { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-eu" },
          { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-us", region = "us-east-1" },
        ]
        fallbacks = [
          { model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0", version = "sonnet-4.5", region = "us-east-1" },
          { model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5" },
        ]
      }
    }
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task.policy).Statement == [
      {
        Sid    = "InvokeConfiguredModels"
        Effect = "Allow"
        Action = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
        Resource = [
          "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
          "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
          "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
          "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
        ]
      },
      {
        Sid    = "InvokeThroughInferenceProfiles"
        Effect = "Allow"
        Action = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
        Resource = [
          "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
          "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
          "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        ]
        Condition = {
          StringEquals = {
            "bedrock:InferenceProfileArn" = [
              "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
              "arn:aws:bedrock:eu-west-1:111111111111:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
            ]
          }
        }
      },
    ]
    error_message = "Each target and fallback is granted in its region (a regional model directly, profiles' models in any region through them)."
  }
  assert {
    condition     = jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement == [for st in jsondecode(aws_iam_role_policy.task.policy).Statement : merge(st, { Principal = { AWS = aws_iam_role.task.arn } })]
    error_message = "The bedrock-runtime endpoint policy admits the task role's statements, for the task role."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.bedrock_throttles)) == toset(["anthropic.claude-3-haiku-20240307-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"])
    error_message = "Bedrock alarms (in bedrock_region) cover the calls made there."
  }
}

run "application_profile_and_extra_arns" {
  command = plan

  variables {
    models = {
      "chat" = { model_id = "arn:aws:bedrock:eu-west-1:111111111111:application-inference-profile/a1b2c3d4e5f6", version = "chat-2025-10" }
    }
    bedrock_model_arns = [
      "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
    ]
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task.policy).Statement[1] == {
      Sid    = "InvokeThroughInferenceProfiles"
      Effect = "Allow"
      Action = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens"]
      Resource = [
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        "arn:aws:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
      ]
      Condition = { StringEquals = { "bedrock:InferenceProfileArn" = ["arn:aws:bedrock:eu-west-1:111111111111:application-inference-profile/a1b2c3d4e5f6"] } }
    }
    error_message = "An application inference profile's ARN is granted as given, and the models given for it only through it."
  }
}

run "another_region_without_a_path_is_refused" {
  command = plan

  variables {
    models = {
      "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", region = "us-east-1" }
    }
  }

  expect_failures = [aws_s3_object.catalog]
}

run "reload_interval" {
  command = plan

  variables {
    catalog_reload_seconds = 60
  }

  assert {
    condition     = output.container_environment["BEDROCK_GATEWAY_CATALOG__RELOAD_SECS"] == "60"
    error_message = "catalog_reload_seconds becomes catalog.reload_secs."
  }
}

# --- refused at plan time ------------------------------------------------------------

run "model_id_and_targets" {
  command = plan
  variables {
    models = {
      "chat" = {
        model_id = "anthropic.claude-3-haiku-20240307-v1:0"
        targets  = [{ model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3" }]
      }
    }
  }
  expect_failures = [var.models]
}

run "neither_model_id_nor_targets" {
  command = plan
  variables {
    models = { "chat" = { description = "nothing to call" } }
  }
  expect_failures = [var.models]
}

run "target_without_version" {
  command = plan
  variables {
    models = { "chat" = { targets = [{ model_id = "anthropic.claude-3-haiku-20240307-v1:0" }] } }
  }
  expect_failures = [var.models]
}

run "fallback_without_version" {
  command = plan
  variables {
    models = {
      "chat" = {
        model_id  = "anthropic.claude-3-haiku-20240307-v1:0"
        fallbacks = [{ model_id = "global.anthropic.claude-haiku-4-5-20251001-v1:0" }]
      }
    }
  }
  expect_failures = [var.models]
}

run "all_weights_zero" {
  command = plan
  variables {
    models = {
      "chat" = {
        targets = [
          { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3", weight = 0 },
          { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5", weight = 0 },
        ]
      }
    }
  }
  expect_failures = [var.models]
}

run "negative_weight" {
  command = plan
  variables {
    models = {
      "chat" = {
        targets = [
          { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3", weight = -1 },
          { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "haiku-4.5" },
        ]
      }
    }
  }
  expect_failures = [var.models]
}

run "no_targets" {
  command = plan
  variables {
    models = { "chat" = { targets = [] } }
  }
  expect_failures = [var.models]
}

run "alias_version_with_targets" {
  command = plan
  variables {
    models = {
      "chat" = {
        version = "chat-1"
        targets = [{ model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3" }]
      }
    }
  }
  expect_failures = [var.models]
}

run "version_is_the_model_id" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "anthropic.claude-3-haiku-20240307-v1:0" } }
  }
  expect_failures = [var.models]
}

run "version_is_an_arn" {
  command = plan
  variables {
    models = {
      "chat" = {
        model_id = "arn:aws:bedrock:eu-west-1:111111111111:application-inference-profile/a1b2c3d4e5f6"
        version  = "arn:aws:bedrock:eu-west-1:111111111111:application-inference-profile/a1b2c3d4e5f6"
      }
    }
  }
  expect_failures = [var.models]
}

run "wildcard_model_id" {
  command = plan
  variables {
    models = { "chat" = { model_id = "arn:aws:bedrock:*::foundation-model/*" } }
  }
  expect_failures = [var.models]
}

run "bad_region" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", region = "eu-west-1a" } }
  }
  expect_failures = [var.models]
}

run "default_max_tokens_above_the_cap" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", max_tokens_cap = 1000, default_max_tokens = 2000 } }
  }
  expect_failures = [var.models]
}

run "temperature_above_one" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", temperature = 1.5 } }
  }
  expect_failures = [var.models]
}

run "bad_guardrail_version" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", guardrail = { id = "abc123", version = "latest" } } }
  }
  expect_failures = [var.models]
}

run "request_fields_not_an_object" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", additional_request_fields = "[1, 2]" } }
  }
  expect_failures = [var.models]
}

run "bad_state" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "sunset" } }
  }
  expect_failures = [var.models]
}

run "not_a_calendar_date" {
  command = plan
  variables {
    models = {
      "chat"    = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
      "retired" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", replacement = "chat", retires_on = "2027-02-31" }
    }
  }
  expect_failures = [var.models]
}

run "retired_without_replacement" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "retired" } }
  }
  expect_failures = [var.models]
}

run "replacement_is_not_an_alias" {
  command = plan
  variables {
    models = { "chat" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "deprecated", replacement = "chat-v2" } }
  }
  expect_failures = [var.models]
}

run "replacement_is_deprecated" {
  command = plan
  variables {
    models = {
      "chat"    = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "deprecated", replacement = "chat-v2" }
      "chat-v2" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "deprecated", replacement = "chat-v3" }
      "chat-v3" = { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0" }
    }
  }
  expect_failures = [var.models]
}

run "replacement_already_retired_by_date" {
  command = plan
  variables {
    models = {
      "chat"    = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", state = "deprecated", replacement = "chat-v2" }
      "chat-v2" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", replacement = "chat-v3", retires_on = "2020-01-01" }
      "chat-v3" = { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0" }
    }
  }
  expect_failures = [var.models]
}

run "replacement_cycle" {
  command = plan
  variables {
    models = {
      "a" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", replacement = "b" }
      "b" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", replacement = "c" }
      "c" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0", replacement = "a" }
    }
  }
  expect_failures = [aws_s3_object.catalog]
}

run "models_in_the_environment" {
  command = plan
  variables {
    environment = { "BEDROCK_GATEWAY_MODELS__CHAT__MODEL_ID" = "anthropic.claude-3-haiku-20240307-v1:0" }
  }
  expect_failures = [var.environment]
}

run "reload_only_on_sighup" {
  command = plan
  variables {
    catalog_reload_seconds = 0
  }
  expect_failures = [var.catalog_reload_seconds]
}

# --- guardrails and Bedrock in other accounts ----------------------------------------

run "guardrails_are_granted_where_their_calls_go" {
  command = plan

  variables {
    models = {
      "chat" = {
        model_id  = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
        guardrail = { id = "abc123def456", version = "3" }
        fallbacks = [{ model_id = "anthropic.claude-3-haiku-20240307-v1:0", version = "haiku-3" }]
      }
      "given" = {
        model_id  = "anthropic.claude-3-haiku-20240307-v1:0"
        guardrail = { id = "arn:aws:bedrock:eu-west-1:111111111111:guardrail/zzz999", version = "DRAFT" }
      }
      "plain" = { model_id = "anthropic.claude-3-haiku-20240307-v1:0" }
    }
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "ApplyCatalogGuardrails"]) == {
      Sid      = "ApplyCatalogGuardrails"
      Effect   = "Allow"
      Action   = ["bedrock:ApplyGuardrail"]
      Resource = ["arn:aws:bedrock:eu-west-1:111111111111:guardrail/abc123def456", "arn:aws:bedrock:eu-west-1:111111111111:guardrail/zzz999"]
    }
    error_message = "The task role may apply exactly the catalog's guardrails (by id in the alias's regions, or as the given ARN)."
  }
  assert {
    condition = contains(jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement, {
      Sid       = "ApplyCatalogGuardrails"
      Effect    = "Allow"
      Principal = { AWS = aws_iam_role.task.arn }
      Action    = ["bedrock:ApplyGuardrail"]
      Resource  = ["arn:aws:bedrock:eu-west-1:111111111111:guardrail/abc123def456", "arn:aws:bedrock:eu-west-1:111111111111:guardrail/zzz999"]
    })
    error_message = "The bedrock-runtime endpoint lets the task role apply the guardrails too."
  }
}

run "no_guardrail_no_grant" {
  command = plan

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "ApplyCatalogGuardrails"]) == 0
    error_message = "Without guardrails the task role gets no ApplyGuardrail."
  }
}

run "bedrock_in_other_accounts" {
  command = plan

  variables {
    bedrock_role_arns = ["arn:aws:iam::444444444444:role/gateway-batch"]
    models = {
      "chat" = {
        targets = [
          { model_id = "eu.anthropic.claude-haiku-4-5-20251001-v1:0", version = "own", weight = 1 },
          { model_id = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", version = "team", weight = 1, role_arn = "arn:aws:iam::333333333333:role/bedrock-gateway-access" },
        ]
      }
    }
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "AssumeBedrockAccessRoles"]) == {
      Sid      = "AssumeBedrockAccessRoles"
      Effect   = "Allow"
      Action   = ["sts:AssumeRole"]
      Resource = ["arn:aws:iam::444444444444:role/gateway-batch", "arn:aws:iam::333333333333:role/bedrock-gateway-access"]
    }
    error_message = "The task role may assume the listed roles and the catalog's role_arn, nothing else."
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.task.policy, "claude-sonnet")
    error_message = "A target called through another account's role gets no grant of the task role's."
  }
  assert {
    condition = (
      aws_vpc_endpoint.interface["sts"].private_dns_enabled
      && jsondecode(aws_vpc_endpoint.interface["sts"].policy).Statement == [{
        Sid       = "AssumeBedrockAccessRoles"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.task.arn }
        Action    = ["sts:AssumeRole"]
        Resource  = ["arn:aws:iam::444444444444:role/gateway-batch", "arn:aws:iam::333333333333:role/bedrock-gateway-access"]
      }]
    )
    error_message = "An STS endpoint with private DNS lets the task role assume exactly those roles."
  }
  assert {
    condition = contains(jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement, {
      Sid       = "BedrockAccessRoles"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream", "bedrock:CountTokens", "bedrock:ApplyGuardrail"]
      Resource  = "*"
      Condition = { ArnEquals = { "aws:PrincipalArn" = ["arn:aws:iam::444444444444:role/gateway-batch", "arn:aws:iam::333333333333:role/bedrock-gateway-access"] } }
    })
    error_message = "The bedrock-runtime endpoint admits the assumed roles' calls."
  }
  # The other account's models are not this account's: the endpoint must
  # admit the assumed roles on any resource (their own policies say which),
  # and admit nobody else there. An assumed role's session has the role's ARN
  # as aws:PrincipalArn.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement :
      s.Effect == "Allow" && (s.Resource == "*" ? (
        s.Principal == "*" && keys(s.Condition) == ["ArnEquals"] && keys(s.Condition.ArnEquals) == ["aws:PrincipalArn"]
        && contains(s.Condition.ArnEquals["aws:PrincipalArn"], "arn:aws:iam::333333333333:role/bedrock-gateway-access")
        && contains(s.Action, "bedrock:InvokeModelWithResponseStream") && contains(s.Action, "bedrock:CountTokens")
      ) : s.Principal == { AWS = aws_iam_role.task.arn })
    ]) && length([for s in jsondecode(aws_vpc_endpoint.interface["bedrock-runtime"].policy).Statement : s if s.Resource == "*"]) == 1
    error_message = "The bedrock-runtime endpoint admits calls on other accounts' model and profile ARNs (e.g. arn:aws:bedrock:eu-west-1:333333333333:inference-profile/...) only for the assumed roles, by aws:PrincipalArn; every other statement is the task role's own."
  }
  assert {
    condition     = jsondecode(aws_s3_object.catalog.content).models.chat.targets[1].role_arn == "arn:aws:iam::333333333333:role/bedrock-gateway-access"
    error_message = "A target's role_arn is written to the catalog."
  }
}

run "no_roles_no_sts" {
  command = plan

  assert {
    condition     = !contains(keys(aws_vpc_endpoint.interface), "sts") && !strcontains(aws_iam_role_policy.task.policy, "sts:")
    error_message = "Without roles there is no STS endpoint and no sts:AssumeRole."
  }
}
