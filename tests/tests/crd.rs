//! crds/ holds what `berth crd` prints today.

#[test]
fn checked_in_crd_is_fresh() {
    check("crds/harborclusters.yaml", berth::crd::harbor_cluster_crd_yaml());
}

#[test]
fn every_other_checked_in_crd_is_fresh() {
    for (kind, file) in berth::crd::CRD_FILES {
        let yaml = berth::crd::crd_yaml(kind).unwrap_or_else(|| panic!("{kind}"));
        check(&format!("crds/{file}"), yaml);
    }
}

fn check(file: &str, generated: Result<String, serde_yaml::Error>) {
    let generated = generated.unwrap_or_else(|e| panic!("{e}"));
    let path = berth_tests::workspace().join(file);
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated, "{} is stale: run `make crd` and commit the result", path.display());
}
