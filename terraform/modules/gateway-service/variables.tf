###############################################################################
# Naming and tagging
###############################################################################

variable "name" {
  description = "Name prefix for every resource (ECS cluster/service, NLB, log group, ...). Lower-case letters, digits and hyphens, at most 24 characters so that derived names (e.g. the NLB's and target group's 32-character limit) fit."
  type        = string
  default     = "bedrock-gateway"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource the module creates."
  type        = map(string)
  default     = {}
}

###############################################################################
# Network: create a VPC, or bring your own
###############################################################################

variable "vpc_id" {
  description = "ID of an existing VPC to deploy into. Leave null to let the module create a private-only VPC (no internet gateway, no NAT) with `vpc_cidr` and `az_count` subnets."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0, or be null to create a VPC."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets of the existing VPC (required when vpc_id is set, ignored otherwise): one per Availability Zone, at least two zones, none mapping public IPs on launch. The NLB, the Fargate tasks and (with create_vpc_endpoints) the interface endpoints are placed in them; their zone IDs are the endpoint service's zones (output availability_zone_ids)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Every private_subnet_ids entry must look like subnet-0123456789abcdef0."
  }

  validation {
    condition     = var.vpc_id == null || length(var.private_subnet_ids) >= 2
    error_message = "When vpc_id is set, private_subnet_ids must list at least two private subnets in different Availability Zones."
  }
}

variable "private_route_table_ids" {
  description = "Route tables of the existing VPC's private subnets, required when vpc_id is set and create_vpc_endpoints = true: the S3 gateway endpoint (ECR image layers, the catalog) is attached to them. Ignored otherwise."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.private_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "Every private_route_table_ids entry must look like rtb-0123456789abcdef0."
  }

  validation {
    condition     = var.vpc_id == null || var.create_vpc_endpoints != true || length(var.private_route_table_ids) > 0
    error_message = "With vpc_id and create_vpc_endpoints = true, private_route_table_ids must list the route tables of private_subnet_ids: without the S3 gateway endpoint's route the tasks cannot download ECR image layers and every image pull times out."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC the module creates (ignored when vpc_id is set). Each Availability Zone gets one subnet of 1/16 of it (a /20 of a /16). A plan fails when a subnet cannot hold the interface endpoints, the NLB and its share of 2 x max_capacity tasks (a 200 % deployment): a /24 (/28 subnets) is too small for the defaults."
  type        = string
  default     = "10.80.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^[0-9.]+/(1[6-9]|2[0-4])$", var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /24, e.g. 10.80.0.0/16."
  }
}

variable "az_count" {
  description = "Most Availability Zones (and private subnets) the created VPC spans when availability_zone_ids is empty: the region's lowest-numbered zone IDs that host Fargate and every endpoint service the tasks need (opt-in zones excluded, whatever their current state). A region with fewer such zones gets them all, with a warning (check az_count_available); fewer than two are refused. At least 2 for a highly available NLB and service."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number between 2 and 6."
  }
}

variable "availability_zone_ids" {
  description = "Availability Zone IDs (e.g. [\"euw1-az1\", \"euw1-az2\"], not names) of the created VPC's subnets, and so of the NLB and the endpoint service; overrides az_count. Zone names map to different physical zones in each account, zone IDs do not: use the zone IDs of the client accounts' endpoint subnets (the two-accounts example derives them). Each must host Fargate and every endpoint service the tasks need (refused otherwise). Adding one later, a lower-numbered one too, only adds a subnet. Empty = up to az_count of the region's lowest-numbered such zone IDs."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for z in var.availability_zone_ids : can(regex("^[a-z]{2,}[0-9]-az[0-9]+$", z))])
    error_message = "availability_zone_ids entries are zone IDs such as euw1-az1 or use1-az4 (`aws ec2 describe-availability-zones` shows ZoneId next to ZoneName), not zone names such as eu-west-1a."
  }

  validation {
    condition     = length(var.availability_zone_ids) == 0 || (length(var.availability_zone_ids) >= 2 && length(distinct(var.availability_zone_ids)) == length(var.availability_zone_ids))
    error_message = "availability_zone_ids must list at least two different zone IDs (or be empty): subnets in one zone give no availability when that zone fails."
  }
}

variable "enable_flow_logs" {
  description = "Create VPC flow logs (to a KMS-encrypted CloudWatch log group) for the VPC the module creates."
  type        = bool
  default     = true
}

variable "create_vpc_endpoints" {
  description = "Create the interface endpoints (bedrock-runtime, ecr.api, ecr.dkr, logs, sts with bedrock_role_arns, plus extra_interface_endpoints) with private DNS and the S3 gateway endpoint. Null (default) = only in the VPC the module creates. In your own VPC (vpc_id) their private DNS names and gateway-only policies and security group would apply to every workload in the VPC, so set true only for a VPC dedicated to the gateway (it then needs private_route_table_ids); otherwise the VPC's existing endpoints (or NAT) serve the tasks through task_egress_cidr_blocks / task_egress_prefix_list_ids."
  type        = bool
  default     = null
}

variable "extra_interface_endpoints" {
  description = "Additional interface endpoint service short names (e.g. [\"secretsmanager\", \"monitoring\"]) to create with private DNS next to the required ones. They get an account-scoped endpoint policy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.extra_interface_endpoints : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "extra_interface_endpoints entries are short service names such as secretsmanager or monitoring."
  }
}

variable "task_egress_cidr_blocks" {
  description = "IPv4 CIDRs the tasks may reach on TCP 443 besides the module's endpoints: in your own VPC without create_vpc_endpoints, where its interface endpoints (ecr.api, ecr.dkr, logs, bedrock-runtime and sts when used) live, e.g. the VPC CIDR, or 0.0.0.0/0 when the private subnets reach AWS through a NAT gateway (which also serves S3). With the module's endpoints the tasks need none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.task_egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "Every task_egress_cidr_blocks entry must be a valid CIDR block."
  }

  validation {
    condition     = var.vpc_id == null || var.create_vpc_endpoints == true || length(var.task_egress_cidr_blocks) > 0
    error_message = "With vpc_id and without create_vpc_endpoints the tasks reach ECR, CloudWatch Logs and Bedrock through your VPC's own endpoints: set task_egress_cidr_blocks to where they live (e.g. the VPC CIDR) and task_egress_prefix_list_ids to the S3 prefix list of your S3 gateway endpoint (ECR image layers, the catalog); without them no task can start."
  }
}

variable "task_egress_prefix_list_ids" {
  description = "Managed prefix lists the tasks may reach on TCP 443, e.g. the S3 prefix list (pl-...) of your VPC's S3 gateway endpoint, which ECR image layers and the catalog object come through (its policy must admit s3:GetObject on the catalog output's arn). Only for your own VPC without create_vpc_endpoints, and there required unless task_egress_cidr_blocks holds 0.0.0.0/0 (NAT); the module's S3 endpoint is allowed already."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.task_egress_prefix_list_ids : can(regex("^pl-[0-9a-f]{8,17}$", p))])
    error_message = "Every task_egress_prefix_list_ids entry must be a prefix list id like pl-6da54004."
  }

  # ECR serves image layers from S3, so without a route to S3 no task starts.
  validation {
    condition     = var.vpc_id == null || var.create_vpc_endpoints == true || length(var.task_egress_prefix_list_ids) > 0 || contains(var.task_egress_cidr_blocks, "0.0.0.0/0")
    error_message = "With vpc_id and without create_vpc_endpoints the tasks need a path to S3 (ECR image layers, the catalog object): set task_egress_prefix_list_ids to the prefix list of your VPC's S3 gateway endpoint (pl-..., `aws ec2 describe-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.REGION.s3`), or, when the private subnets route to a NAT gateway, include 0.0.0.0/0 in task_egress_cidr_blocks."
  }
}

variable "nlb_ingress_cidr_blocks" {
  description = "IPv4 CIDRs that may connect to the NLB directly (not via PrivateLink), e.g. in-VPC callers. Empty = the VPC's own CIDR. PrivateLink traffic is admitted by the endpoint service (allowed_principals + acceptance), not by this list."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.nlb_ingress_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Every nlb_ingress_cidr_blocks entry must be a valid CIDR block, and 0.0.0.0/0 is not allowed."
  }
}

###############################################################################
# Gateway container
###############################################################################

variable "image_tag" {
  description = "Tag of the gateway image in the module's ECR repository (tags are immutable: use a version or a git SHA, never `latest`). Ignored when container_image is set."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid Docker tag and must not be `latest` (the repository's tags are immutable)."
  }
}

variable "container_image" {
  description = "Full image reference (registry/repo:tag or @sha256:digest) to run instead of <module ECR repository>:<image_tag>. The execution role can pull only from the module's repository, so other private registries need extra permissions."
  type        = string
  default     = null
}

variable "container_command" {
  description = "Arguments passed to the image's ENTRYPOINT (/usr/local/bin/bedrock-gateway). Null keeps the image's CMD. Example: [\"--config\", \"/etc/bedrock-gateway/gateway.toml\"] when a config file is baked into the image."
  type        = list(string)
  default     = null
}

variable "admin_listen" {
  description = "Address of the gateway's admin listener (/metrics, /healthz, /readyz; no authentication, and its series name tenants, API keys and endpoints). Loopback reaches a scraper sidecar in the same task and the container health check; set \"0.0.0.0:9090\" only for a scraper outside the task, and allow it in a security group of your own (the module opens no port for it)."
  type        = string
  default     = "127.0.0.1:9090"

  validation {
    condition     = can(regex("^[0-9.]+:[0-9]+$", var.admin_listen)) && var.admin_listen != "0.0.0.0:${var.grpc_port}"
    error_message = "admin_listen must be an IPv4 address and port such as 127.0.0.1:9090, and not the gRPC port."
  }
}

variable "grpc_port" {
  description = "TCP port the gateway listens on for gRPC (plaintext HTTP/2) and the NLB's TCP listener port."
  type        = number
  default     = 50051

  validation {
    condition     = var.grpc_port >= 1024 && var.grpc_port <= 65535
    error_message = "grpc_port must be between 1024 and 65535 (the container runs as a non-root user)."
  }
}

variable "cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096, 8192, 16384)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB; must be a valid combination with cpu."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the task: ARM64 (Graviton, cheaper per vCPU for the same work) or X86_64. The image must be built for it: docker buildx build --platform linux/arm64 (or linux/amd64), see terraform/README.md."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "bedrock_region" {
  description = "Region the gateway calls Bedrock in (BEDROCK_GATEWAY_BEDROCK__REGION). Null = the provider's region. The aws.bedrock provider must be configured for this region: Bedrock's throttling and 5xx alarms (and, if needed, their SNS topic) are created there, next to Bedrock's metrics. It is also the default region of every model, target and fallback in models. The bedrock-runtime interface endpoint serves only the provider's region, so another region needs a network path to its Bedrock runtime (see README, \"Regions\")."
  type        = string
  default     = null
}

variable "models" {
  description = "The gateway's model catalog, alias => settings. The module writes it as JSON to the catalog object in S3 (see catalog), which every task re-reads, so an edit changes that object only: no new task definition, no deployment. Unset attributes are left out, so the gateway's defaults apply; each key is described in the gateway's docs/CONFIGURATION.md ([models.<name>]). One target: model_id (Bedrock model id, inference profile id or ARN; never shown to clients), version (shown to clients; default the alias, never the model_id), region (default bedrock_region), role_arn (a role in another account the gateway assumes to call that account's Bedrock; see bedrock_role_arns). A canary: targets = [{ model_id, version (required), region, role_arn, weight (whole, >= 0, default 1; one above 0), additional_request_fields }] instead of model_id, version and region, and optionally sticky_metadata_key (a request_metadata key whose value keeps a conversation on one target). Either form: fallbacks = [{ model_id, version (required), region, role_arn, additional_request_fields }], tried in order on throttling or unavailability before the first event. Per alias: description, max_tokens_cap, default_max_tokens, temperature, top_p, guardrail = { id, version, stream_processing_mode = sync|async } (the task role may then bedrock:ApplyGuardrail it), prompt_caching = { after_system, after_tools }, additional_request_fields (a JSON object as a string: jsonencode({...})), state (active|deprecated|retired), replacement (an active alias), retires_on (YYYY-MM-DD), kind (chat|embedding), capabilities = { input_modalities, tools, reasoning, ignore_unsupported_reasoning, structured_output, prompt_caching, count_tokens, context_window, embedding_format, embedding_dimensions, max_embed_texts } (what the model can take and do, as [models.<name>.capabilities]; unset ones take the gateway's defaults). Aliases: lower-case letters, digits, '-' and single '_'. Every model, target and fallback is granted to the task role (see bedrock_model_arns)."
  type = map(object({
    model_id           = optional(string)
    version            = optional(string)
    region             = optional(string)
    role_arn           = optional(string)
    description        = optional(string)
    max_tokens_cap     = optional(number)
    default_max_tokens = optional(number)
    temperature        = optional(number)
    top_p              = optional(number)
    guardrail = optional(object({
      id                     = string
      version                = string
      stream_processing_mode = optional(string)
    }))
    prompt_caching = optional(object({
      after_system = optional(bool)
      after_tools  = optional(bool)
    }))
    additional_request_fields = optional(string)
    state                     = optional(string)
    replacement               = optional(string)
    retires_on                = optional(string)
    sticky_metadata_key       = optional(string)
    kind                      = optional(string)
    capabilities = optional(object({
      input_modalities             = optional(list(string))
      tools                        = optional(bool)
      reasoning                    = optional(string)
      ignore_unsupported_reasoning = optional(bool)
      structured_output            = optional(string)
      prompt_caching               = optional(bool)
      count_tokens                 = optional(bool)
      context_window               = optional(number)
      embedding_format             = optional(string)
      embedding_dimensions         = optional(list(number))
      max_embed_texts              = optional(number)
    }))
    targets = optional(list(object({
      model_id                  = string
      version                   = optional(string)
      region                    = optional(string)
      role_arn                  = optional(string)
      weight                    = optional(number)
      additional_request_fields = optional(string)
    })))
    fallbacks = optional(list(object({
      model_id                  = string
      version                   = optional(string)
      region                    = optional(string)
      role_arn                  = optional(string)
      additional_request_fields = optional(string)
    })), [])
  }))

  validation {
    condition     = length(var.models) > 0
    error_message = "models must contain at least one alias."
  }

  validation {
    condition     = alltrue([for alias in keys(var.models) : length(alias) <= 64 && can(regex("^[a-z0-9]([a-z0-9-]|_[a-z0-9-])*$", alias))])
    error_message = "Model aliases must be 1-64 lower-case letters, digits, '-' and single '_' (tenants' model_quotas put them in environment variable names, where a double underscore nests)."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.models) : [
      for r in concat([m.role_arn], [for t in(m.targets == null ? [] : m.targets) : t.role_arn], [for f in m.fallbacks : f.role_arn]) :
      r == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", r))
    ]]))
    error_message = "A role_arn of a model, target or fallback must be an IAM role ARN, arn:aws:iam::ACCOUNT_ID:role/NAME (no wildcards)."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : (m.model_id == null) != (m.targets == null)])
    error_message = "Each alias needs exactly one of model_id (one target) or targets (several, weighted)."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : m.targets == null ? true : m.version == null && m.region == null])
    error_message = "An alias with targets gives each target its version and region; version and region on the alias go with model_id only."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.models) : [
      for c in concat(
        m.model_id == null ? [] : [m.model_id],
        [for t in(m.targets == null ? [] : m.targets) : t.model_id],
        [for f in m.fallbacks : f.model_id],
      ) :
      startswith(c, "arn:") ? can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:([0-9]{12})?:(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model)/[A-Za-z0-9._:/-]+$", c)) : can(regex("^[A-Za-z0-9][A-Za-z0-9._:-]*$", c))
    ]]))
    error_message = "Every model_id (of an alias, a target or a fallback) must be a Bedrock model id, an inference profile id, or the ARN of a Bedrock foundation model, (application) inference profile or provisioned/custom/imported model, without wildcards."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.models) : [
      for c in concat(
        m.version == null ? [] : [{ model_id = m.model_id, version = m.version }],
        [for t in(m.targets == null ? [] : m.targets) : { model_id = t.model_id, version = t.version }],
        [for f in m.fallbacks : { model_id = f.model_id, version = f.version }],
      ) :
      c.version == null ? false : length(trimspace(c.version)) > 0 && c.version != c.model_id && !startswith(c.version, "arn:")
    ]]))
    error_message = "A version, the name clients see (StreamStart.model_version), is required for every target and fallback; any version is never empty, never its model_id and never an ARN (which may name the account)."
  }

  validation {
    condition = alltrue([for m in values(var.models) : m.targets == null ? true : (
      alltrue([for t in m.targets : t.weight == null ? true : t.weight >= 0 && floor(t.weight) == t.weight])
      && anytrue([for t in m.targets : t.weight == null ? true : t.weight > 0])
    )])
    error_message = "targets must list at least one target; each weight (default 1) is a whole number >= 0, and at least one weight is above 0."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.models) : [
      for r in concat([m.region], [for t in(m.targets == null ? [] : m.targets) : t.region], [for f in m.fallbacks : f.region]) :
      r == null ? true : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", r))
    ]]))
    error_message = "Every region (of an alias, a target or a fallback) must be a region name such as eu-west-1."
  }

  validation {
    condition = alltrue([for m in values(var.models) :
      (m.max_tokens_cap == null ? true : m.max_tokens_cap >= 1 && floor(m.max_tokens_cap) == m.max_tokens_cap)
      && (m.default_max_tokens == null ? true : m.default_max_tokens >= 1 && floor(m.default_max_tokens) == m.default_max_tokens && m.default_max_tokens <= coalesce(m.max_tokens_cap, 4096))
    ])
    error_message = "max_tokens_cap must be a whole number >= 1, and default_max_tokens a whole number from 1 to max_tokens_cap (default 4096)."
  }

  validation {
    condition     = alltrue(flatten([for m in values(var.models) : [for v in [m.temperature, m.top_p] : v == null ? true : v >= 0 && v <= 1]]))
    error_message = "temperature and top_p must be from 0 to 1."
  }

  validation {
    condition = alltrue([for m in values(var.models) : m.guardrail == null ? true : (
      (can(regex("^[a-z0-9]{1,64}$", m.guardrail.id)) || can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:guardrail/[a-z0-9]+$", m.guardrail.id)))
      && can(regex("^([1-9][0-9]{0,7}|DRAFT)$", m.guardrail.version))
      && contains(["sync", "async"], coalesce(m.guardrail.stream_processing_mode, "sync"))
    )])
    error_message = "guardrail needs an id (lower-case letters and digits, or a guardrail ARN), a version (a number or DRAFT) and, if set, stream_processing_mode sync or async."
  }

  validation {
    condition = alltrue(flatten([for m in values(var.models) : [
      for f in concat(
        [m.additional_request_fields],
        [for t in(m.targets == null ? [] : m.targets) : t.additional_request_fields],
        [for f in m.fallbacks : f.additional_request_fields],
      ) : f == null ? true : can(keys(jsondecode(f)))
    ]]))
    error_message = "additional_request_fields must be a JSON object as a string, e.g. jsonencode({ thinking = { type = \"enabled\", budget_tokens = 2048 } })."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : m.state == null ? true : contains(["active", "deprecated", "retired"], m.state)])
    error_message = "state must be active, deprecated or retired."
  }

  validation {
    condition = alltrue([for m in values(var.models) :
      m.retires_on == null ? true : can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", m.retires_on)) && can(formatdate("YYYY-MM-DD", "${m.retires_on}T00:00:00Z"))
    ])
    error_message = "retires_on must be a calendar date written YYYY-MM-DD (UTC), such as 2030-03-31."
  }

  validation {
    condition = alltrue([for alias, m in var.models :
      m.replacement == null ? m.state != "retired" && m.retires_on == null : m.replacement != alias && contains(keys(var.models), m.replacement)
    ])
    error_message = "A retired alias, or one with retires_on, must name its replacement, and a replacement must be another alias of models."
  }

  # Active today: not deprecated or retired, and not past its own retires_on.
  validation {
    condition = alltrue([for alias, m in var.models :
      m.replacement == null ? true : !contains(keys(var.models), m.replacement) ? true : (
        contains(["deprecated", "retired"], coalesce(var.models[m.replacement].state, "active")) ? false : (
          var.models[m.replacement].retires_on == null ? true : (
            can(timecmp("${var.models[m.replacement].retires_on}T00:00:00Z", plantimestamp())) ? timecmp("${var.models[m.replacement].retires_on}T00:00:00Z", plantimestamp()) > 0 : true
          )
        )
      )
    ])
    error_message = "A replacement must be active: not deprecated, not retired, and not past its own retires_on."
  }

  validation {
    condition     = alltrue([for m in values(var.models) : m.sticky_metadata_key == null ? true : length(trimspace(m.sticky_metadata_key)) > 0])
    error_message = "sticky_metadata_key, when set, must name a request_metadata key (not empty)."
  }
}

variable "bedrock_model_arns" {
  description = "ARNs the task role (and the bedrock-runtime endpoint) may call with bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream and bedrock:CountTokens besides those the module derives from every model_id in models (aliases, targets, fallbacks), in its region (default bedrock_region): a model id gets its foundation model there; a cross-region or global inference profile id (us., eu., apac., jp., au., ca., us-gov., global.) gets the profile in this account and that region plus its foundation model in any region (arn:aws:bedrock:*::foundation-model/ID; for a global. profile also the region-less arn:aws:bedrock:::foundation-model/ID that AWS documents for global profiles); an ARN is granted as given. List here what cannot be derived: the foundation models behind an application inference profile (regional ARNs, or the wildcard-region form for a cross-region one) and anything else the gateway calls. Wildcard-region and region-less foundation-model ARNs are granted only through the inference profiles (condition on bedrock:InferenceProfileArn), so a destination region AWS adds needs no change. No other wildcards."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition = alltrue([
      for a in var.bedrock_model_arns :
      can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:([0-9]{12})?:(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model)/[A-Za-z0-9._:/-]+$", a))
      || can(regex("^arn:aws[a-z-]*:bedrock:\\*?::foundation-model/[A-Za-z0-9._:/-]+$", a))
    ])
    error_message = "Every bedrock_model_arns entry must be a Bedrock foundation-model, inference-profile, application-inference-profile or provisioned/custom/imported-model ARN. The only wildcard allowed is a foundation model's whole region (arn:aws:bedrock:*::foundation-model/ID, or region-less arn:aws:bedrock:::foundation-model/ID), for cross-region inference profiles."
  }

  validation {
    condition = alltrue([
      for a in var.bedrock_model_arns : can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:", a))
    ]) || anytrue([for a in var.bedrock_model_arns : can(regex(":(application-)?inference-profile/", a))]) || length(local.catalog_profile_ids) > 0
    error_message = "A wildcard-region or region-less foundation-model ARN is granted only through an inference profile: list the inference profile's ARN (arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID) too, or call one in models."
  }
}

variable "bedrock_role_arns" {
  description = "Roles in other accounts the task role may assume (sts:AssumeRole) to call those accounts' Bedrock, besides the role_arn of each model and target in models (which are added). The gateway assumes a target's role_arn through STS; with any role the module adds an STS interface endpoint (private DNS, so the gateway's default regional STS endpoint resolves to it). Each role trusts the task role (output task_role_arn) and allows Bedrock on its models: see modules/bedrock-access-role."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.bedrock_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", r))])
    error_message = "Every bedrock_role_arns entry must be an IAM role ARN, arn:aws:iam::ACCOUNT_ID:role/NAME (no wildcards)."
  }
}

variable "tenants_reload_seconds" {
  description = "How often every task checks the tenants object for a change (the gateway's tenants_source.reload_secs), with a conditional GET: a new tenant, key or quota reaches every task within about this long."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.tenants_reload_seconds >= 1 && var.tenants_reload_seconds <= 86400 && floor(var.tenants_reload_seconds) == var.tenants_reload_seconds
    error_message = "tenants_reload_seconds must be a whole number from 1 to 86400."
  }
}

variable "catalog_reload_seconds" {
  description = "How often every task checks the catalog object for a change (the gateway's catalog.reload_secs, BEDROCK_GATEWAY_CATALOG__RELOAD_SECS), with a conditional GET that costs one 304 when nothing changed: an edit of models reaches every task within about this long. At least 1: ECS cannot send the SIGHUP that 0 would wait for."
  type        = number
  default     = 15
  nullable    = false

  validation {
    condition     = var.catalog_reload_seconds >= 1 && var.catalog_reload_seconds <= 86400 && floor(var.catalog_reload_seconds) == var.catalog_reload_seconds
    error_message = "catalog_reload_seconds must be a whole number from 1 to 86400."
  }
}

variable "environment" {
  description = "Extra plain environment variables for the gateway container (e.g. RUST_LOG). Do not put secrets here, nor BEDROCK_GATEWAY_MODELS__* (the catalog is models, in S3)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !startswith(upper(k), "BEDROCK_GATEWAY_MODELS__")])
    error_message = "environment must not set BEDROCK_GATEWAY_MODELS__* variables: the gateway reads its catalog from the S3 object the module writes from models, and refuses to start with both."
  }
}

variable "drain_seconds" {
  description = "The drain window: the least time any stream gets before scale-in or a deployment can end it. It is the gateway's shutdown grace after SIGTERM (BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS), and the container's stopTimeout is drain_seconds + 15 (Fargate caps stopTimeout at 120 s). Streams already open when the task is deregistered get the deregistration delay (see max_connection_age_seconds) on top."
  type        = number
  default     = 60

  validation {
    condition     = var.drain_seconds >= 5 && var.drain_seconds <= 105 && floor(var.drain_seconds) == var.drain_seconds
    error_message = "drain_seconds must be a whole number of seconds between 5 and 105 (stopTimeout = drain_seconds + 15 must stay <= 120)."
  }
}

variable "max_connection_age_seconds" {
  description = "The gateway's server.max_connection_age_secs (BEDROCK_GATEWAY_SERVER__MAX_CONNECTION_AGE_SECS): each client connection is sent GOAWAY after about this long (+-10 %), and the client reconnects through the NLB, which balances per connection, so tasks added by scale-out get connections within this time. The target group's deregistration delay is 1.1 x this, so every connection to a deregistered task has been sent GOAWAY (no new streams arrive) before ECS sends SIGTERM."
  type        = number
  default     = 120

  validation {
    condition     = var.max_connection_age_seconds >= 30 && var.max_connection_age_seconds <= 3000 && floor(var.max_connection_age_seconds) == var.max_connection_age_seconds
    error_message = "max_connection_age_seconds must be a whole number from 30 to 3000 (the deregistration delay, 1.1 x this, must stay within the target group's 3600 s)."
  }
}

variable "max_streams_per_task" {
  description = "Most streams one task serves at once: the gateway's server.max_concurrent_requests (BEDROCK_GATEWAY_SERVER__MAX_CONCURRENT_REQUESTS); more are refused with RESOURCE_EXHAUSTED, and one caller may hold half of it per task (server.max_concurrent_requests_per_caller's default). The in-flight saturation alarm fires at streams_saturation_alarm_percent of it."
  type        = number
  default     = 2000

  validation {
    condition     = var.max_streams_per_task >= 1 && var.max_streams_per_task <= 100000 && floor(var.max_streams_per_task) == var.max_streams_per_task
    error_message = "max_streams_per_task must be a whole number from 1 to 100000."
  }
}

variable "log_retention_days" {
  description = "Retention of the gateway's (and flow logs') CloudWatch log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "ecr_force_delete" {
  description = "Allow `terraform destroy` to delete the ECR repository even if it still holds images."
  type        = bool
  default     = false
}

variable "ecr_keep_images" {
  description = "Number of most recent images the ECR lifecycle policy keeps."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 1
    error_message = "ecr_keep_images must be at least 1."
  }
}

###############################################################################
# Load balancer and PrivateLink
###############################################################################

variable "nlb_idle_timeout_seconds" {
  description = "tcp.idle_timeout.seconds of the NLB's TCP listener (60-6000, AWS default 350). The gateway and the client crate both send HTTP/2 PINGs every 60 s, so a value >= 120 keeps idle streams/connections open. A TLS listener's idle timeout is fixed at 350 s."
  type        = number
  default     = 350

  validation {
    condition     = var.nlb_idle_timeout_seconds >= 60 && var.nlb_idle_timeout_seconds <= 6000 && floor(var.nlb_idle_timeout_seconds) == var.nlb_idle_timeout_seconds
    error_message = "nlb_idle_timeout_seconds must be a whole number between 60 and 6000."
  }
}

variable "tls_certificate_arn" {
  description = "ACM certificate ARN. When set, a TLS listener on tls_port (ALPN HTTP2Only, TLS 1.3/1.2 policy) is added in front of the same target group; the TCP listener stays. For a private name such as llm.internal no public certificate exists: use an ACM private certificate (AWS Private CA) or an imported one, and make clients trust its CA."
  type        = string
  default     = null

  validation {
    condition     = var.tls_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.tls_certificate_arn))
    error_message = "tls_certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID) or null."
  }
}

variable "tls_port" {
  description = "Port of the optional TLS listener."
  type        = number
  default     = 443

  validation {
    condition     = var.tls_port >= 1 && var.tls_port <= 65535
    error_message = "tls_port must be a valid TCP port."
  }
}

variable "tls_ssl_policy" {
  description = "Security policy of the optional TLS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "proxy_protocol_v2" {
  description = "Enable proxy protocol v2 on the target group: the gateway then logs each request's client address and PrivateLink endpoint id. Also sets the gateway's server.proxy_protocol (BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL), which its container health check reads too, so the two always match."
  type        = bool
  default     = false
}

variable "enable_deletion_protection" {
  description = "Deletion protection on the NLB (AWS refuses to delete it). Besides, the NLB and the endpoint service carry prevent_destroy, so no plan may replace or destroy them (decommissioning: terraform/README.md)."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "S3 bucket for NLB access logs (NLBs log TLS listener connections only). Null disables access logs."
  type        = string
  default     = null
}

variable "allowed_principals" {
  description = "IAM principal ARNs (usually client account roots: arn:aws:iam::123456789012:root) allowed to create interface endpoints to the gateway's endpoint service. Connections still need acceptance."
  type        = list(string)

  validation {
    condition     = length(var.allowed_principals) > 0
    error_message = "allowed_principals must contain at least one client principal ARN (e.g. arn:aws:iam::123456789012:root); an endpoint service nobody may connect to is useless."
  }

  validation {
    condition     = alltrue([for p in var.allowed_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/[A-Za-z0-9+=,.@_/-]+|user/[A-Za-z0-9+=,.@_/-]+)$", p))])
    error_message = "Every allowed_principals entry must be an IAM ARN: arn:aws:iam::ACCOUNT_ID:root, :role/NAME or :user/NAME (no wildcards)."
  }

  validation {
    condition     = length(distinct(var.allowed_principals)) == length(var.allowed_principals)
    error_message = "allowed_principals must not contain duplicates."
  }
}

###############################################################################
# Capacity and scaling
###############################################################################

variable "min_capacity" {
  description = "Minimum number of tasks (and the initial desired count). At least 2 so that every deploy and AZ loss keeps serving."
  type        = number
  default     = 2

  validation {
    condition     = var.min_capacity >= 2 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number of at least 2: with one task, every deployment, task replacement or zone failure interrupts the service."
  }
}

variable "max_capacity" {
  description = "Maximum number of tasks autoscaling may run."
  type        = number
  default     = 10

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= 1000
    error_message = "max_capacity must be at least min_capacity and at most 1000."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation (%) of the CPU target-tracking policy."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "streams_per_task_target" {
  description = "Target of the streams target-tracking policy: the Average of StreamsInFlight (namespace BedrockGateway, dimension ServiceName = name), the streams each task has open, which every task publishes every 10 s in Embedded Metric Format, 0 when idle, so scale-in happens too. Must be below max_streams_per_task."
  type        = number
  default     = 200

  validation {
    condition     = var.streams_per_task_target >= 1 && var.streams_per_task_target < var.max_streams_per_task
    error_message = "streams_per_task_target must be at least 1 and below max_streams_per_task (beyond it tasks refuse streams)."
  }
}

variable "scale_in_cooldown_seconds" {
  description = "Scale-in cooldown of both target-tracking policies (CPU and streams). Long, so that the fleet does not shrink on a short lull; each removed task still drains for the deregistration delay plus drain_seconds."
  type        = number
  default     = 300
}

variable "scale_out_cooldown_seconds" {
  description = "Scale-out cooldown of both target-tracking policies."
  type        = number
  default     = 60
}

###############################################################################
# Alarms and dashboard
###############################################################################

variable "alarm_sns_topic_arn" {
  description = "SNS topic (in the module's region) that alarms, the ECS deployment-failure rule and the endpoint-connection notifications publish to, on alarm and on recovery. Null = the module creates one (KMS-encrypted, output alarm_topic_arn). A topic of your own must let cloudwatch.amazonaws.com, events.amazonaws.com and vpce.amazonaws.com publish (and use its KMS key)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or null."
  }
}

variable "bedrock_alarm_sns_topic_arn" {
  description = "SNS topic in bedrock_region for Bedrock's throttling and 5xx alarms, when bedrock_region differs from the module's region (CloudWatch alarms notify topics in their own region). Null = the module creates one there (with its own KMS key). Ignored when the regions are the same."
  type        = string
  default     = null

  validation {
    condition     = var.bedrock_alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.bedrock_alarm_sns_topic_arn))
    error_message = "bedrock_alarm_sns_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or null."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topics the module creates (the address must confirm the subscription). Null = no subscription. With alarm_sns_topic_arn, subscribe it to your topic yourself."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }

  validation {
    condition     = var.alarm_email == null || var.alarm_sns_topic_arn == null
    error_message = "alarm_email subscribes to the topic the module creates; with alarm_sns_topic_arn subscribe the address to your own topic instead."
  }
}

variable "error_ratio_alarm_percent" {
  description = "Percentage of requests ending with a server-side status (Internal, Unavailable, Unknown, DataLoss) or a misconfiguration error (e.g. Bedrock AccessDenied) above which the error-ratio alarm fires (3 of 5 minutes with at least 10 requests a minute)."
  type        = number
  default     = 5

  validation {
    condition     = var.error_ratio_alarm_percent > 0 && var.error_ratio_alarm_percent <= 100
    error_message = "error_ratio_alarm_percent must be above 0 and at most 100."
  }
}

variable "rejections_alarm_threshold" {
  description = "Requests the gateway refused before reaching Bedrock (EMF metric Rejections: authentication, permission, quota, capacity, size, ...) per 5 minutes above which the rejections alarm fires."
  type        = number
  default     = 100

  validation {
    condition     = var.rejections_alarm_threshold >= 0
    error_message = "rejections_alarm_threshold must not be negative."
  }
}

variable "streams_saturation_alarm_percent" {
  description = "Percentage of max_streams_per_task that a task's StreamsInFlight (Maximum over tasks) must exceed for 3 minutes for the in-flight saturation alarm to fire: scaling has not kept up (or max_capacity is reached) and tasks are about to refuse streams."
  type        = number
  default     = 80

  validation {
    condition     = var.streams_saturation_alarm_percent > 0 && var.streams_saturation_alarm_percent <= 100
    error_message = "streams_saturation_alarm_percent must be above 0 and at most 100."
  }
}

variable "cpu_alarm_threshold_percent" {
  description = "Average service CPU (%) above which the CPU alarm fires (5 consecutive minutes)."
  type        = number
  default     = 85
}

variable "throttle_alarm_threshold" {
  description = "Bedrock InvocationThrottles per model per 5 minutes above which the throttle alarm fires."
  type        = number
  default     = 10
}

###############################################################################
# Tenants and quotas
###############################################################################

variable "tenants" {
  description = "Tenants of the gateway (the gateway's [tenants.<name>] tables): name => { api_keys, vpc_endpoint_ids, models, quotas, model_quotas }, written as the tenants object in S3 ({\"tenants\": {...}}, output tenants) that every task re-reads, so onboarding a team or rotating its key changes that object only: no new task definition, no deployment. Names are lower-case letters, digits and single '_'. api_keys: key name => { sha256 (the key's SHA-256, 64 hex digits; never the key), not_before, expires_on (RFC 3339, or YYYY-MM-DD for expires_on) }. vpc_endpoint_ids: the client accounts' interface endpoints (vpce-...) whose callers are this tenant; needs proxy_protocol_v2. models: aliases of `models` the tenant may call (null = all). quotas and model_quotas (alias => limits): requests_per_minute, tokens_per_minute, concurrent_requests, each null (unlimited) or a whole number >= 1."
  type = map(object({
    api_keys = optional(map(object({
      sha256     = string
      not_before = optional(string)
      expires_on = optional(string)
    })), {})
    vpc_endpoint_ids = optional(list(string), [])
    models           = optional(list(string))
    quotas = optional(object({
      requests_per_minute = optional(number)
      tokens_per_minute   = optional(number)
      concurrent_requests = optional(number)
    }), {})
    model_quotas = optional(map(object({
      requests_per_minute = optional(number)
      tokens_per_minute   = optional(number)
      concurrent_requests = optional(number)
    })), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name in keys(var.tenants) : length(name) <= 64 && can(regex("^[a-z0-9](_?[a-z0-9])*$", name))])
    error_message = "Tenant names must be 1-64 lower-case letters, digits and single '_' (no '-', no '__', not starting or ending with '_')."
  }

  validation {
    condition = alltrue(flatten([for t in values(var.tenants) : [
      for name, k in t.api_keys : length(name) <= 64 && can(regex("^[a-z0-9](_?[a-z0-9])*$", name)) && can(regex("^[0-9a-f]{64}$", k.sha256))
      && (k.not_before == null || can(formatdate("YYYY", k.not_before)))
      && (k.expires_on == null || can(formatdate("YYYY", k.expires_on)) || can(formatdate("YYYY", "${k.expires_on}T00:00:00Z")))
    ]]))
    error_message = "tenants[*].api_keys: key names are lower-case letters, digits and single '_'; sha256 is the key's SHA-256 as 64 lower-case hex digits (printf %s \"$KEY\" | sha256sum), never the key; not_before is an RFC 3339 time, expires_on an RFC 3339 time or a YYYY-MM-DD date."
  }

  validation {
    condition     = alltrue(flatten([for t in values(var.tenants) : [for id in t.vpc_endpoint_ids : can(regex("^vpce-[0-9a-f]{8,17}$", id))]]))
    error_message = "Every tenants[*].vpc_endpoint_ids entry must be a VPC endpoint id like vpce-0123456789abcdef0."
  }

  validation {
    condition     = length(flatten([for t in values(var.tenants) : t.vpc_endpoint_ids])) == length(distinct(flatten([for t in values(var.tenants) : t.vpc_endpoint_ids])))
    error_message = "A VPC endpoint id may belong to one tenant only, once."
  }

  validation {
    condition     = var.proxy_protocol_v2 || alltrue([for t in values(var.tenants) : length(t.vpc_endpoint_ids) == 0])
    error_message = "tenants with vpc_endpoint_ids need proxy_protocol_v2 = true: the gateway learns the caller's endpoint id from the NLB's PROXY protocol v2 header."
  }

  validation {
    condition = alltrue(flatten([
      for t in values(var.tenants) : [for m in(t.models == null ? [] : t.models) : contains(keys(var.models), m)]
    ]))
    error_message = "tenants[*].models may only name aliases of the models variable."
  }

  validation {
    condition = alltrue(flatten([
      for t in values(var.tenants) : [
        for m in keys(t.model_quotas) : contains(keys(var.models), m) && (t.models == null ? true : contains(t.models, m))
      ]
    ]))
    error_message = "tenants[*].model_quotas keys must be aliases of the models variable and, when the tenant lists models, among them."
  }

  validation {
    condition = alltrue(flatten([
      for t in values(var.tenants) : [
        for limits in concat([t.quotas], values(t.model_quotas)) : [
          for v in values(limits) : v == null ? true : (v >= 1 && floor(v) == v)
        ]
      ]
    ]))
    error_message = "Every quota (requests_per_minute, tokens_per_minute, concurrent_requests) must be a whole number >= 1, or null for unlimited."
  }
}

variable "require_identity" {
  description = "The gateway's auth.require_identity (BEDROCK_GATEWAY_AUTH__REQUIRE_IDENTITY): true refuses callers no identity source recognises with UNAUTHENTICATED, false lets them call as the `default` tenant. Null leaves the gateway's default: true as soon as any API key or tenant vpc_endpoint_ids is configured (set false to keep serving callers no tenant recognises)."
  type        = bool
  default     = null
}

variable "require_endpoint_match" {
  description = "The gateway's auth.require_endpoint_match (BEDROCK_GATEWAY_AUTH__REQUIRE_ENDPOINT_MATCH): a caller identified by API key must come through one of its tenant's vpc_endpoint_ids (when it lists any) and not through another tenant's endpoint, else PERMISSION_DENIED. Needs proxy_protocol_v2."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = !var.require_endpoint_match || var.proxy_protocol_v2
    error_message = "require_endpoint_match needs proxy_protocol_v2 = true: without the PROXY protocol header the gateway does not know the caller's endpoint."
  }
}

variable "quota_store" {
  description = "Fleet-wide quota store. enabled = true creates an ElastiCache Serverless for Valkey cache (TLS, KMS) in the private subnets (or subnet_ids), reachable only from the task security group, with an RBAC user that authenticates with IAM (no password anywhere: the gateway signs a token with the task role, which may elasticache:Connect to the cache as that user, and renews it; quotas.redis.iam_auth); the gateway then runs with quotas.store = redis. false (default): quotas.store = memory, each task counts on its own. major_engine_version: Valkey 7 or 8. max_data_storage_gb / max_ecpu_per_second cap the cache's size and cost (null ECPU = uncapped). timeout_ms and key_prefix (null = name) become quotas.redis.timeout_ms / key_prefix. fallback_task_count (quotas.fallback_task_count, 1-1000; null = min_capacity): while the store is unreachable every task enforces each quota divided by it, so set it to the usual task count (lower lets the fleet exceed the quotas during an outage, higher is stricter)."
  type = object({
    enabled              = optional(bool, false)
    major_engine_version = optional(string, "8")
    max_data_storage_gb  = optional(number, 1)
    max_ecpu_per_second  = optional(number)
    timeout_ms           = optional(number, 100)
    key_prefix           = optional(string)
    subnet_ids           = optional(list(string))
    fallback_task_count  = optional(number)
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["7", "8"], var.quota_store.major_engine_version)
    error_message = "quota_store.major_engine_version must be \"7\" or \"8\" (Valkey versions ElastiCache Serverless offers)."
  }

  validation {
    condition     = var.quota_store.max_data_storage_gb >= 1 && var.quota_store.max_data_storage_gb <= 5000 && floor(var.quota_store.max_data_storage_gb) == var.quota_store.max_data_storage_gb
    error_message = "quota_store.max_data_storage_gb must be a whole number of GB from 1 to 5000."
  }

  validation {
    condition     = var.quota_store.max_ecpu_per_second == null ? true : (var.quota_store.max_ecpu_per_second >= 1000 && var.quota_store.max_ecpu_per_second <= 15000000)
    error_message = "quota_store.max_ecpu_per_second must be from 1000 to 15000000, or null for no cap."
  }

  validation {
    condition     = var.quota_store.timeout_ms >= 1 && var.quota_store.timeout_ms <= 10000 && floor(var.quota_store.timeout_ms) == var.quota_store.timeout_ms
    error_message = "quota_store.timeout_ms must be a whole number from 1 to 10000."
  }

  validation {
    condition     = var.quota_store.key_prefix == null ? true : can(regex("^[A-Za-z][A-Za-z0-9:._-]{0,63}$", var.quota_store.key_prefix))
    error_message = "quota_store.key_prefix must be 1-64 characters: a letter, then letters, digits, ':', '.', '_' or '-' (it is also the key pattern of the cache user's ACL)."
  }

  validation {
    condition     = var.quota_store.fallback_task_count == null ? true : var.quota_store.fallback_task_count >= 1 && var.quota_store.fallback_task_count <= 1000 && floor(var.quota_store.fallback_task_count) == var.quota_store.fallback_task_count
    error_message = "quota_store.fallback_task_count must be a whole number from 1 to 1000 (the gateway's quotas.fallback_task_count), or null for min_capacity."
  }

  validation {
    condition     = var.quota_store.subnet_ids == null ? true : length(var.quota_store.subnet_ids) >= 2 && alltrue([for s in var.quota_store.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "quota_store.subnet_ids must be null (the private subnets) or at least two subnet ids in different Availability Zones."
  }
}
