"""The Python portal against the Rust portal's own output, natively under CPython.

tests/fixtures/<example>.json hold, for every examples/*.yaml (and, for minimal.yaml,
variants and invalid specs), the exact input a plugin gets (spec JSON, Harbor version,
the topology record) and what the Rust portal returned for it: its objects byte for
byte, or its error. See README.md for how they were produced.

Run: python3 test_portal.py (COMPONENTIZE_PY=path/to/componentize-py to also run the
tests through the WIT bindings, which componentize-py generates from wit/ into a
temporary directory). Prints "N passed, N failed" last; exits non-zero on a failure.
"""

import copy
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
WIT = os.path.join(HERE, "..", "..", "wit")
sys.path.insert(0, HERE)

import portal  # noqa: E402

RUST_NAME = "berth-portal 0.1.0"


def cases():
    for path in sorted(glob.glob(os.path.join(HERE, "tests", "fixtures", "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for case in doc["cases"]:
            yield f"{doc['example']}:{case['case']}", case


def outcome(render):
    """What a render did, in the fixtures' shape."""
    try:
        return {"objects": render()}
    except portal.InvalidSpec as e:
        return {"error": {"kind": "invalid-spec", "field": e.field, "message": e.message}}
    except portal.Unsupported as e:
        return {"error": {"kind": "unsupported", "message": e.message}}
    except portal.Internal as e:
        return {"error": {"kind": "internal", "message": e.message}}


class Equivalence:
    """Assertions shared by the native and the through-the-bindings runs."""

    def assert_same(self, label, expected, actual):
        if "objects" in expected:
            self.assertIn("objects", actual, f"{label}: the Rust portal rendered, the Python one failed: {actual}")
            self.assertEqual(len(expected["objects"]), len(actual["objects"]), label)
            for want, got in zip(expected["objects"], actual["objects"]):
                # Byte for byte: same keys, same order, same escaping.
                self.assertEqual(want, got, f"{label}: objects differ")
            return
        self.assertIn("error", actual, f"{label}: the Rust portal failed, the Python one rendered")
        want, got = expected["error"], actual["error"]
        self.assertEqual(want["kind"], got["kind"], label)
        if want["kind"] == "invalid-spec":
            self.assertEqual(want["field"], got["field"], label)
            if want["message"].startswith("invalid type"):
                # serde's wording (with a line and column) is not reproduced, only its gist.
                self.assertTrue(got["message"].startswith("invalid type"), f"{label}: {got['message']}")
            else:
                self.assertEqual(want["message"], got["message"], label)
        elif want["kind"] == "unsupported":
            self.assertEqual(want["message"].replace(RUST_NAME, f"{portal.NAME} {portal.VERSION}"), got["message"], label)
        else:
            self.assertEqual(want["message"], got["message"], label)


class NativeTest(unittest.TestCase, Equivalence):
    def test_every_fixture_renders_as_the_rust_portal_does(self):
        count = 0
        for label, case in cases():
            with self.subTest(label):
                actual = outcome(lambda: portal.render(case["harbor_version"], case["spec_json"], case["topology"]))
                self.assert_same(label, case["expected"], actual)
                count += 1
        self.assertGreaterEqual(count, 20, "fixtures are missing")

    def test_every_example_is_covered(self):
        examples = {os.path.basename(p)[: -len(".yaml")] for p in glob.glob(os.path.join(HERE, "..", "*.yaml"))}
        fixtures = {os.path.basename(p)[: -len(".json")] for p in glob.glob(os.path.join(HERE, "tests", "fixtures", "*.json"))}
        self.assertEqual(examples, fixtures, "regenerate the fixtures for new examples (README.md)")

    def test_same_input_gives_identical_bytes_whatever_the_order_of_label_lists(self):
        for label, case in cases():
            if "objects" not in case["expected"]:
                continue
            with self.subTest(label):
                first = portal.render(case["harbor_version"], case["spec_json"], case["topology"])
                shuffled = copy.deepcopy(case["topology"])
                rng = random.Random(7)
                for component in shuffled["components"]:
                    rng.shuffle(component["labels"])
                    rng.shuffle(component["selector"])
                # The spec's maps in another order too: the output does not follow input order.
                spec = json.loads(case["spec_json"])
                spec_reordered = json.dumps(dict(reversed(list(spec.items()))))
                second = portal.render(case["harbor_version"], spec_reordered, shuffled)
                self.assertEqual(first, second)

    def test_describe(self):
        self.assertEqual(
            portal.describe(),
            {
                "name": "berth-portal-py",
                "version": "0.1.0",
                "component": "portal",
                "harbor_versions": ["2.13", "2.14", "2.15"],
                "contract_version": "0.4.0",
            },
        )

    def test_the_contract_version_is_the_wit_package_version(self):
        with open(os.path.join(WIT, "renderer.wit"), encoding="utf-8") as f:
            packages = [line.split()[1].rstrip(";") for line in f if line.startswith("package ")]
        self.assertEqual(packages, [f"berth:plugin@{portal.CONTRACT_VERSION}"])

    def test_spec_type_errors_name_the_field(self):
        base = {"version": "2.15.1", "externalURL": "https://h"}
        topology = next(c for _, c in cases() if "objects" in c["expected"])["topology"]
        for patch, field in [
            ({"portal": []}, "spec.portal"),
            ({"portal": {"replicas": 2**31}}, "spec.portal.replicas"),
            ({"portal": {"replicas": 1.5}}, "spec.portal.replicas"),
            ({"portal": {"replicas": True}}, "spec.portal.replicas"),
            ({"portal": {"nodeSelector": {"a": 1}}}, "spec.portal.nodeSelector.a"),
            ({"portal": {"env": ["A=1"]}}, "spec.portal.env[0]"),
            ({"portal": {"image": 7}}, "spec.portal.image"),
            ({"ipFamily": {"ipv6": 0}}, "spec.ipFamily.ipv6"),
            ({"version": None}, "spec.version"),
        ]:
            with self.subTest(field=field):
                spec = dict(base, **patch)
                with self.assertRaises(portal.InvalidSpec) as caught:
                    portal.render("2.15.1", json.dumps(spec), topology)
                self.assertEqual(caught.exception.field, field)
        with self.assertRaises(portal.InvalidSpec) as caught:
            portal.render("2.15.1", json.dumps({"version": "2.15.1"}), topology)
        self.assertEqual((caught.exception.field, caught.exception.message), ("spec", "missing field `externalURL`"))
        with self.assertRaises(portal.InvalidSpec) as caught:
            portal.render("2.15.1", "[]", topology)
        self.assertEqual(caught.exception.field, "spec")


def generate_bindings(componentize_py, out):
    subprocess.run(
        [componentize_py, "-d", WIT, "-w", "component-renderer", "bindings", out],
        check=True,
        stdout=subprocess.DEVNULL,
    )


class BindingsTest(unittest.TestCase, Equivalence):
    """app.py through the bindings componentize-py generates: the WIT records in, the
    WIT result out, as the component runs it (minus the WebAssembly)."""

    tmp = None

    @classmethod
    def setUpClass(cls):
        tool = os.environ.get("COMPONENTIZE_PY") or shutil.which("componentize-py")
        if not tool:
            raise unittest.SkipTest("componentize-py not found (set COMPONENTIZE_PY): the bindings tests did not run")
        cls.tmp = tempfile.mkdtemp(prefix="portal-py-bindings-")
        generate_bindings(tool, cls.tmp)
        sys.path.insert(0, cls.tmp)
        global app, wit, Err
        import app  # noqa: F401
        from componentize_py_types import Err  # noqa: F401
        from wit_world.exports import renderer as wit  # noqa: F401

    @classmethod
    def tearDownClass(cls):
        if cls.tmp:
            sys.path.remove(cls.tmp)
            shutil.rmtree(cls.tmp)

    @staticmethod
    def record(topology):
        """The WIT `topology` record from its dict form in the fixtures."""
        key = lambda ref: None if ref is None else wit.SecretKeyRef(**ref)  # noqa: E731
        t = topology
        return wit.Topology(
            fullname=t["fullname"],
            components=[
                wit.ComponentTopology(
                    **{k: v for k, v in c.items() if k not in ("images", "labels", "selector")},
                    images=[wit.ContainerImage(**i) for i in c["images"]],
                    labels=[wit.KeyValue(**kv) for kv in c["labels"]],
                    selector=[wit.KeyValue(**kv) for kv in c["selector"]],
                )
                for c in t["components"]
            ],
            # The cluster's own labels (for an Ingress, say): the portal reads none.
            labels=[wit.KeyValue(**kv) for kv in t.get("labels", [])],
            image_pull_policy=t["image_pull_policy"],
            image_pull_secrets=list(t["image_pull_secrets"]),
            external_url=t["external_url"],
            enabled=list(t["enabled"]),
            secrets=wit.SecretNames(**dict(t["secrets"], admin_password=key(t["secrets"]["admin_password"]))),
            database=wit.DatabaseEndpoint(**dict(t["database"], password=key(t["database"]["password"]))),
            redis=wit.RedisEndpoint(
                **dict(t["redis"], password=key(t["redis"]["password"]), indices=wit.RedisIndices(**t["redis"]["indices"]))
            ),
        )

    def test_describe_is_the_wit_record(self):
        d = app.Renderer().describe()
        self.assertIsInstance(d, wit.PluginDescription)
        self.assertEqual((d.name, d.component, d.contract_version), ("berth-portal-py", "portal", "0.4.0"))

    def test_every_fixture_through_the_bindings(self):
        for label, case in cases():
            with self.subTest(label):
                request = wit.RenderInput(
                    cluster=wit.ClusterIdentity(name="demo", namespace="registry", uid=""),
                    harbor_version=case["harbor_version"],
                    spec_json=case["spec_json"],
                    topology=self.record(case["topology"]),
                    task=None,
                )
                try:
                    out = app.Renderer().render(request)
                    self.assertIsInstance(out, wit.RenderOutput)
                    self.assertEqual((out.secrets, out.conditions), ([], []))
                    actual = {"objects": out.objects}
                except Err as e:
                    v = e.value
                    if isinstance(v, wit.RenderError_InvalidSpec):
                        actual = {"error": {"kind": "invalid-spec", "field": v.value.field, "message": v.value.message}}
                    elif isinstance(v, wit.RenderError_Unsupported):
                        actual = {"error": {"kind": "unsupported", "message": v.value}}
                    else:
                        actual = {"error": {"kind": "internal", "message": v.value}}
                self.assert_same(label, case["expected"], actual)

    def test_a_bug_is_an_internal_error_not_a_trap(self):
        request = wit.RenderInput(
            cluster=wit.ClusterIdentity(name="demo", namespace="registry", uid=""),
            harbor_version="2.15.1",
            spec_json='{"version":"2.15.1","externalURL":"https://h"}',
            topology=None,  # not a record: dataclasses.asdict refuses it
            task=None,
        )
        with self.assertRaises(Err) as caught:
            app.Renderer().render(request)
        self.assertIsInstance(caught.exception.value, wit.RenderError_Internal)

    def test_a_backup_task_is_not_the_portals(self):
        request = wit.RenderInput(
            cluster=wit.ClusterIdentity(name="demo", namespace="registry", uid=""),
            harbor_version="2.15.1",
            spec_json='{"version":"2.15.1","externalURL":"https://h"}',
            topology=None,
            task=wit.Task_Backup(wit.BackupTask(name="b1", job_name="demo-harbor-backup-b1", path="registry/demo/b1")),
        )
        with self.assertRaises(Err) as caught:
            app.Renderer().render(request)
        self.assertIsInstance(caught.exception.value, wit.RenderError_Unsupported)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    # Subtests report one failure each; count tests.
    failed = len({getattr(test, "test_case", test).id() for test, _ in result.failures + result.errors})
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"portal-py: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
