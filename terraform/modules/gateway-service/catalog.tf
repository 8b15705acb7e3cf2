###############################################################################
# The model catalog: one JSON object in S3 that every task polls
###############################################################################

# The catalog lives outside the task definition so that moving an alias to
# another model, a canary, a fallback or a retirement is an apply that
# rewrites one object: no new task definition, no deployment, no client
# change. Each task checks the object every catalog_reload_seconds with a
# conditional GET, validates a new catalog whole and keeps serving the old
# one when the new one is invalid.

locals {
  catalog_key        = "catalog.json"
  catalog_object_arn = "${aws_s3_bucket.catalog.arn}/${local.catalog_key}"

  # The tenants live next to the catalog for the same reason: onboarding a
  # team, rotating its key or changing a quota rewrites one object that the
  # tasks poll (tenants_source.s3), never the task definition.
  tenants_key        = "tenants.json"
  tenants_object_arn = "${aws_s3_bucket.catalog.arn}/${local.tenants_key}"

  # The gateway's shape, {"tenants": {name: {...}}}, without unset
  # attributes, so that the gateway's own defaults apply.
  tenants_document = {
    for name, t in var.tenants : name => {
      for k, v in {
        api_keys = length(t.api_keys) == 0 ? null : {
          for key_name, key in t.api_keys : key_name => { for kk, kv in key : kk => kv if kv != null }
        }
        vpc_endpoint_ids = length(t.vpc_endpoint_ids) == 0 ? null : t.vpc_endpoint_ids
        models           = t.models
        quotas           = length({ for q, l in t.quotas : q => l if l != null }) == 0 ? null : { for q, l in t.quotas : q => l if l != null }
        model_quotas = length(t.model_quotas) == 0 ? null : {
          for alias, limits in t.model_quotas : alias => { for q, l in limits : q => l if l != null }
        }
      } : k => v if v != null
    }
  }

  # The gateway's shape, {"models": {alias: {...}}}, without unset
  # attributes, so that the gateway's own defaults apply.
  catalog_models = {
    for alias, m in var.models : alias => {
      for k, v in {
        model_id                  = m.model_id
        version                   = m.version
        region                    = m.region
        role_arn                  = m.role_arn
        description               = m.description
        max_tokens_cap            = m.max_tokens_cap
        default_max_tokens        = m.default_max_tokens
        temperature               = m.temperature
        top_p                     = m.top_p
        guardrail                 = m.guardrail == null ? null : { for gk, gv in m.guardrail : gk => gv if gv != null }
        prompt_caching            = m.prompt_caching == null ? null : { for pk, pv in m.prompt_caching : pk => pv if pv != null }
        additional_request_fields = m.additional_request_fields == null ? null : jsondecode(m.additional_request_fields)
        state                     = m.state
        replacement               = m.replacement
        retires_on                = m.retires_on
        sticky_metadata_key       = m.sticky_metadata_key
        kind                      = m.kind
        capabilities              = m.capabilities == null ? null : { for ck, cv in m.capabilities : ck => cv if cv != null }
        targets = m.targets == null ? null : [
          for t in m.targets : {
            for tk, tv in {
              model_id                  = t.model_id
              region                    = t.region
              role_arn                  = t.role_arn
              version                   = t.version
              weight                    = t.weight
              additional_request_fields = t.additional_request_fields == null ? null : jsondecode(t.additional_request_fields)
            } : tk => tv if tv != null
          }
        ]
        fallbacks = length(m.fallbacks) == 0 ? null : [
          for f in m.fallbacks : {
            for fk, fv in {
              model_id                  = f.model_id
              region                    = f.region
              role_arn                  = f.role_arn
              version                   = f.version
              additional_request_fields = f.additional_request_fields == null ? null : jsondecode(f.additional_request_fields)
            } : fk => fv if fv != null
          }
        ]
      } : k => v if v != null
    }
  }

  # Cross-region and global inference profiles: their ids start with the
  # geography they route within.
  profile_prefixes = ["global", "us", "eu", "apac", "jp", "au", "ca", "us-gov"]

  # Every model id the catalog calls, and those that are inference profiles
  # (an id with a geography prefix, or a profile ARN).
  catalog_model_ids = distinct(flatten([
    for m in values(var.models) : concat(
      m.model_id == null ? [] : [m.model_id],
      [for t in(m.targets == null ? [] : m.targets) : t.model_id],
      [for f in m.fallbacks : f.model_id],
    )
  ]))
  catalog_profile_ids = [
    for id in local.catalog_model_ids : id
    if contains(local.profile_prefixes, split(".", id)[0]) || can(regex(":(application-)?inference-profile/", id))
  ]

  # Every call the catalog can make, per alias, as { model_id, regions,
  # role_arn }: a target in its own region, else its alias's, else
  # bedrock_region. A fallback without a region is granted in its alias's
  # region and in bedrock_region. A call with a role_arn runs as that role
  # (another account's Bedrock), so it needs no grant of the task role's.
  catalog_alias_calls = {
    for alias, m in var.models : alias => concat(
      m.model_id == null ? [] : [{ model_id = m.model_id, regions = [coalesce(m.region, local.bedrock_region)], role_arn = m.role_arn }],
      [for t in(m.targets == null ? [] : m.targets) : { model_id = t.model_id, regions = [coalesce(t.region, local.bedrock_region)], role_arn = t.role_arn }],
      [for f in m.fallbacks : { model_id = f.model_id, regions = f.region == null ? distinct(compact([m.region, local.bedrock_region])) : [f.region], role_arn = f.role_arn }],
    )
  }
  catalog_calls   = flatten(values(local.catalog_alias_calls))
  catalog_regions = distinct(flatten(local.catalog_calls[*].regions))

  # What the task role needs for them. An id is granted in each of its
  # regions; a system-defined inference profile (by id or ARN) also routes
  # to its foundation model in regions AWS chooses (and adds), so that model
  # is granted in any region, only through profiles (ecs.tf). AWS documents
  # a global profile's model by the region-less ARN as well, so a global
  # profile gets both forms. An ARN is taken as given; an application
  # inference profile's models cannot be derived (var.bedrock_model_arns).
  catalog_model_arns = distinct(flatten([
    for c in local.catalog_calls : c.role_arn != null ? [] : [
      for profile in [replace(c.model_id, "/^arn:.*:inference-profile\\//", "")] : [
        for model in [join(".", slice(split(".", profile), 1, length(split(".", profile))))] : concat(
          startswith(c.model_id, "arn:") ? [c.model_id] : [
            for r in c.regions : contains(local.profile_prefixes, split(".", profile)[0])
            ? "arn:${local.partition}:bedrock:${r}:${local.account_id}:inference-profile/${c.model_id}"
            : "arn:${local.partition}:bedrock:${r}::foundation-model/${c.model_id}"
          ],
          contains(local.profile_prefixes, split(".", profile)[0]) ? ["arn:${local.partition}:bedrock:*::foundation-model/${model}"] : [],
          split(".", profile)[0] == "global" ? ["arn:${local.partition}:bedrock:::foundation-model/${model}"] : [],
        )
      ]
    ]
  ]))

  # A guardrail is applied where the call enters Bedrock, so an alias's
  # guardrail is granted (bedrock:ApplyGuardrail) in each region its own
  # account's calls go to; an ARN is taken as given. Another account's
  # guardrail is that account's role's to grant (bedrock_role_arns).
  catalog_guardrail_arns = distinct(flatten([
    for alias, m in var.models : m.guardrail == null ? [] : (
      startswith(m.guardrail.id, "arn:") ? [m.guardrail.id] : [
        for r in distinct(flatten([for c in local.catalog_alias_calls[alias] : c.regions if c.role_arn == null])) :
        "arn:${local.partition}:bedrock:${r}:${local.account_id}:guardrail/${m.guardrail.id}"
      ]
    )
  ]))

  # The roles in other accounts that targets name: the task role may assume
  # them (ecs.tf), besides those listed in bedrock_role_arns.
  catalog_role_arns = distinct(compact([for c in local.catalog_calls : c.role_arn]))

  # Replacement chains, followed 2^k steps at once ("" past a chain's end):
  # after 256 steps only aliases on or into a cycle are still somewhere.
  # (A chain without a cycle is shorter than the number of aliases; larger
  # catalogs are left to the gateway's own check.)
  replacement_step_1   = { for alias, m in var.models : alias => m.replacement == null ? "" : m.replacement }
  replacement_step_2   = { for a, n in local.replacement_step_1 : a => lookup(local.replacement_step_1, n, "") }
  replacement_step_4   = { for a, n in local.replacement_step_2 : a => lookup(local.replacement_step_2, n, "") }
  replacement_step_8   = { for a, n in local.replacement_step_4 : a => lookup(local.replacement_step_4, n, "") }
  replacement_step_16  = { for a, n in local.replacement_step_8 : a => lookup(local.replacement_step_8, n, "") }
  replacement_step_32  = { for a, n in local.replacement_step_16 : a => lookup(local.replacement_step_16, n, "") }
  replacement_step_64  = { for a, n in local.replacement_step_32 : a => lookup(local.replacement_step_32, n, "") }
  replacement_step_128 = { for a, n in local.replacement_step_64 : a => lookup(local.replacement_step_64, n, "") }
  replacement_step_256 = { for a, n in local.replacement_step_128 : a => lookup(local.replacement_step_128, n, "") }
  replacement_cycles   = length(var.models) > 256 ? [] : sort([for a, n in local.replacement_step_256 : a if n != ""])
}

resource "aws_s3_bucket" "catalog" {
  #checkov:skip=CKV_AWS_18:Only Terraform writes the one object and only the task role reads it; server access logs would need a log bucket of their own, and CloudTrail data events are the audit trail where one is wanted.
  #checkov:skip=CKV_AWS_144:The catalog's source is the Terraform configuration and the bucket keeps every version; a replica in another region adds nothing the tasks in this region could use.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to catalog writes: the tasks poll the object with conditional GETs.
  bucket_prefix = "${var.name}-catalog-"
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "catalog" {
  bucket = aws_s3_bucket.catalog.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "catalog" {
  bucket = aws_s3_bucket.catalog.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Every catalog served stays, for audit and rollback.
resource "aws_s3_bucket_versioning" "catalog" {
  bucket = aws_s3_bucket.catalog.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "catalog" {
  bucket = aws_s3_bucket.catalog.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "catalog" {
  bucket = aws_s3_bucket.catalog.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.catalog]
}

resource "aws_s3_bucket_policy" "catalog" {
  bucket = aws_s3_bucket.catalog.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.catalog.arn, "${aws_s3_bucket.catalog.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.catalog]
}

resource "aws_s3_object" "catalog" {
  bucket                 = aws_s3_bucket.catalog.id
  key                    = local.catalog_key
  content                = jsonencode({ models = local.catalog_models })
  content_type           = "application/json"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.this.arn
  bucket_key_enabled     = true

  tags = local.tags

  lifecycle {
    # The module's bedrock-runtime endpoint serves its own region only, and
    # the tasks have no other way out unless the caller gives them one: a
    # call to another region would fail on every request, so it is refused
    # here rather than found at run time.
    precondition {
      condition     = length(setsubtract(local.catalog_regions, [local.region])) == 0 || length(var.task_egress_cidr_blocks) > 0 || length(var.task_egress_prefix_list_ids) > 0
      error_message = "models call Bedrock in ${join(", ", setsubtract(local.catalog_regions, [local.region]))} (a model's, target's or fallback's region, or bedrock_region), but the tasks reach Bedrock only through the bedrock-runtime endpoint of ${local.region}: every such call would fail. Call a cross-region inference profile in ${local.region} instead (an eu., us., apac. or global. profile reaches the other regions inside AWS), or give the tasks a network path to that region's Bedrock runtime (task_egress_cidr_blocks / task_egress_prefix_list_ids)."
    }
    precondition {
      condition     = length(local.replacement_cycles) == 0
      error_message = "The replacements of models form a cycle through ${join(", ", local.replacement_cycles)}: a client moving off a retired alias would be sent round in circles. Give the chain an end."
    }
  }

  # A catalog that names a new model is written only once the task role and
  # the bedrock-runtime endpoint admit it.
  depends_on = [
    aws_s3_bucket_versioning.catalog,
    aws_s3_bucket_server_side_encryption_configuration.catalog,
    aws_s3_bucket_policy.catalog,
    aws_iam_role_policy.task,
    aws_vpc_endpoint.interface,
  ]
}

resource "aws_s3_object" "tenants" {
  bucket                 = aws_s3_bucket.catalog.id
  key                    = local.tenants_key
  content                = jsonencode({ tenants = local.tenants_document })
  content_type           = "application/json"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.this.arn
  bucket_key_enabled     = true

  tags = local.tags

  depends_on = [
    aws_s3_bucket_versioning.catalog,
    aws_s3_bucket_server_side_encryption_configuration.catalog,
    aws_s3_bucket_policy.catalog,
  ]
}

# The task role reads those two objects alone (through S3, which decrypts it with
# the module's key; the bucket key makes the bucket the encryption context).
resource "aws_iam_role_policy" "task_catalog" {
  name = "read-catalog"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadCatalogAndTenants"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = [local.catalog_object_arn, local.tenants_object_arn]
      },
      {
        Sid      = "DecryptCatalog"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.this.arn]
        Condition = {
          StringEquals = {
            "kms:ViaService"                   = "s3.${local.region}.amazonaws.com"
            "kms:EncryptionContext:aws:s3:arn" = aws_s3_bucket.catalog.arn
          }
        }
      },
    ]
  })
}
