# Berth's build entry points. Plugins are WebAssembly components built from source for
# wasm32-wasip2; the host finds them in target/plugins (see PluginDir::default_location).

CARGO ?= cargo
PLUGIN_PROFILE := plugin
WASM_OUT := target/wasm32-wasip2/$(PLUGIN_PROFILE)
# Bundled renderers, one crate each: every plugins/<name> but the SDK is the package
# berth-plugin-<name> (a new component needs no edit here).
PLUGINS := $(patsubst plugins/%/Cargo.toml,berth-plugin-%,$(filter-out plugins/sdk/Cargo.toml,$(wildcard plugins/*/Cargo.toml)))
# Reproducible plugins: no build paths in the .wasm, so a digest names the source, not
# the directory it was built in.
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS := --remap-path-prefix=$(CURDIR)=/berth --remap-path-prefix=$(HOME)/.cargo=/cargo
# Purpose-built plugins for the sandbox and policy tests (never bundled): a hostile one,
# portal versions to swap and roll back, one that breaks every guardrail, one that
# reaches for files and sockets (the deny-by-default WASI stubs).
TEST_PLUGINS := berth-test-hostile berth-test-describe-sleeper berth-test-portal-next berth-test-portal-broken berth-test-guardrail-breaker \
	berth-test-wasi-prober
# The example third-party plugin (examples/vendor-plugin), built against the SDK only.
VENDOR_PLUGINS := berth-vendor-networkpolicy
# The portal again, in Python, from wit/ alone (examples/portal-py), built by componentize-py
# (PyPI) in a venv of its own under target/.
PYTHON ?= python3
COMPONENTIZE_PY_VERSION := 0.25.1
PORTAL_PY_VENV := target/portal-py-venv
COMPONENTIZE_PY := $(PORTAL_PY_VENV)/bin/componentize-py
COMPONENTIZE_PY_STAMP := $(PORTAL_PY_VENV)/.componentize-py-$(COMPONENTIZE_PY_VERSION)
PORTAL_PY_WASM := target/test-plugins/berth_portal_py.wasm

.PHONY: help render plugins test-plugins portal-py-toolchain test-portal-py test e2e install harbor-check harbor-restore-check harbor-upgrade-check bench bench-hostile bench-swap bench-fleet crd clean-plugins

## help: list these targets, one line each
help:
	@grep -E '^## [a-z0-9-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z0-9-]+): */\1\t/' | awk -F'\t' '{ printf "  make %-14s %s\n", $$1, $$2 }'

## render: build the plugins and the host, then render examples/minimal.yaml
render: plugins
	$(CARGO) run -q -p berth -- render -f examples/minimal.yaml

## plugins: build every bundled plugin into target/plugins
plugins:
	rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target list --installed | grep -qx wasm32-wasip2
	$(CARGO) build --target wasm32-wasip2 --profile $(PLUGIN_PROFILE) $(addprefix -p ,$(PLUGINS))
	mkdir -p target/plugins
	for p in $(PLUGINS); do cp $(WASM_OUT)/$$(echo $$p | tr - _).wasm target/plugins/; done

## test-plugins: build the test plugins and the vendor example into target/test-plugins
# (a separate cargo run from `plugins`: the portal variants link the portal crate
# without its export, which a joint build would unify away).
test-plugins: plugins $(PORTAL_PY_WASM)
	$(CARGO) build --target wasm32-wasip2 --profile $(PLUGIN_PROFILE) $(addprefix -p ,$(TEST_PLUGINS) $(VENDOR_PLUGINS))
	mkdir -p target/test-plugins
	for p in $(TEST_PLUGINS) $(VENDOR_PLUGINS); do cp $(WASM_OUT)/$$(echo $$p | tr - _).wasm target/test-plugins/; done
	cp tests/plugins/*.wat target/test-plugins/

## portal-py-toolchain: componentize-py, pinned, in target/portal-py-venv (pip, PyPI)
portal-py-toolchain: $(COMPONENTIZE_PY_STAMP)

$(COMPONENTIZE_PY_STAMP):
	$(PYTHON) -m venv $(PORTAL_PY_VENV)
	$(PORTAL_PY_VENV)/bin/pip install --quiet --disable-pip-version-check componentize-py==$(COMPONENTIZE_PY_VERSION)
	touch $@

# The Python portal. Only app.py and what it imports are in the component (componentize-py
# snapshots the interpreter after importing them). Not bit-reproducible: componentize-py
# 0.25.1 seeds CPython's hash randomisation from the build machine (examples/portal-py/README.md).
$(PORTAL_PY_WASM): $(COMPONENTIZE_PY_STAMP) wit/renderer.wit examples/portal-py/app.py examples/portal-py/portal.py
	mkdir -p target/test-plugins
	$(COMPONENTIZE_PY) --quiet -d wit -w component-renderer componentize -p examples/portal-py app -o $@

## test-portal-py: the Python portal's own tests, natively under CPython, against the Rust portal's output
test-portal-py: portal-py-toolchain
	COMPONENTIZE_PY=$(COMPONENTIZE_PY) $(PYTHON) examples/portal-py/test_portal.py

## test: formatting, lints, then every test in the workspace (plugins are built first)
test: test-plugins
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory test-portal-py

## e2e: the end-to-end suites against a real control plane (KUBEBUILDER_ASSETS)
# Run after `make test`. The `berth` binary is built first: one suite runs it as two processes.
# Built by `cargo test --no-run`, which keeps the feature set of `make test` (its
# dev-dependencies turn on features a plain `cargo build` would build without).
e2e: test-plugins
	$(CARGO) test --workspace --no-run
	$(CARGO) test --workspace --test 'e2e_*' -- --ignored --test-threads=1

## install: apply the CRDs to the current kubeconfig's cluster and run the operator here (Ctrl-C stops it)
# For trying Berth on a real cluster without building an image. KUBECONFIG and the
# current context choose the cluster; the operator runs with your credentials, so it
# needs what deploy/rbac.yaml grants. Metrics and health listen on 127.0.0.1:8080.
install: plugins
	kubectl apply --server-side --field-manager=berth-install -k crds/
	$(CARGO) build -q -p berth --bin berth
	target/debug/berth run --plugins target/plugins --log-format text --http-addr 127.0.0.1:8080

## harbor-check: run Harbor's own binaries on what Berth renders (../shared/harbor-runtime)
# Harbor v2.15.1 on `berth render --emit-secrets examples/minimal.yaml`, as root: ping, health, logins, a
# docker-style push and pull through the token service, a GC job. No --patch: the render
# runs exactly as Berth produces it. `--workspace` keeps the feature set of `make test`.
HARBOR_RUNTIME ?= ../shared/harbor-runtime
HARBOR_CHECK_CLUSTER ?= examples/minimal.yaml
harbor-check: plugins
	$(CARGO) build --workspace --bins
	$(HARBOR_RUNTIME)/setup.sh
	$(HARBOR_RUNTIME)/run-check.sh --berth-bin target/debug/berth --plugins target/plugins $(HARBOR_CHECK_CLUSTER)

## harbor-restore-check: back up a running Harbor's database, lose it, restore it, and check Harbor works on it
# Harbor's own binaries (../shared/harbor-runtime, as root) run examples/backup.yaml; the backup
# and restore Jobs' containers run as `berth backup job` renders them (tests/harbor/).
harbor-restore-check: plugins
	$(CARGO) build --workspace --bins
	$(HARBOR_RUNTIME)/setup.sh
	HARBOR_RUNTIME=$(HARBOR_RUNTIME) tests/harbor/restore-check.sh

## harbor-upgrade-check: roll a running Harbor's schema back one release, run the upgrade's migration Job, and check Harbor works on it
# Harbor's own binaries (../shared/harbor-runtime, as root) run examples/minimal.yaml; the migration
# Job's container runs as `berth upgrade job --from 2.14.2 --to 2.15.1` renders it (tests/harbor/).
harbor-upgrade-check: plugins
	$(CARGO) build --workspace --bins
	$(HARBOR_RUNTIME)/setup.sh
	HARBOR_RUNTIME=$(HARBOR_RUNTIME) tests/harbor/upgrade-check.sh

## bench: the sandbox benchmark (compile, cached load, instantiate, render)
bench: plugins test-plugins
	$(CARGO) bench -p berth --bench sandbox

## bench-hostile: deadline overrun and peak RSS under hostile plugins (README figures)
bench-hostile: test-plugins
	$(CARGO) run -q -p berth-tests --bin hostile-bench -- 20 8

## bench-fleet: N HarborClusters (default 100) on a local control plane, a release operator: time, reconciles, writes, CPU, memory
# `make bench-fleet 1000` or `make bench-fleet N=1000`: a number after the goal is its
# argument, not a target.
ifeq (bench-fleet,$(firstword $(MAKECMDGOALS)))
FLEET_SIZE := $(or $(word 2,$(MAKECMDGOALS)),$(N),100)
$(eval $(FLEET_SIZE):;@:)
endif
bench-fleet: plugins
	$(CARGO) build --release -q -p berth --bin berth
	$(CARGO) run -q -p berth-tests --bin fleet-bench -- $(FLEET_SIZE) target/release/berth

## bench-swap: time a PluginPolicy change re-rendering 100 HarborClusters (needs a control plane)
bench-swap: test-plugins
	$(CARGO) run -q -p berth-tests --bin policy-swap-bench -- 100 5

## crd: regenerate the CRDs under crds/ (HarborCluster, PluginPolicy, HarborBackup, HarborRestore)
crd:
	$(CARGO) run -q -p berth -- crd > crds/harborclusters.yaml
	$(CARGO) run -q -p berth -- crd --kind PluginPolicy > crds/pluginpolicies.yaml
	$(CARGO) run -q -p berth -- crd --kind HarborBackup > crds/harborbackups.yaml
	$(CARGO) run -q -p berth -- crd --kind HarborRestore > crds/harborrestores.yaml

## clean-plugins: remove the built plugins (target/plugins, target/test-plugins)
clean-plugins:
	rm -rf target/plugins target/test-plugins $(PORTAL_PY_VENV)
