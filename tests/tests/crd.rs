//! crds/harborclusters.yaml is what `berth crd` prints today.

#[test]
fn checked_in_crd_is_fresh() {
    let generated = berth::crd::harbor_cluster_crd_yaml().unwrap_or_else(|e| panic!("{e}"));
    let path = berth_tests::workspace().join("crds/harborclusters.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is stale: run `make crd` and commit the result",
        path.display()
    );
}
