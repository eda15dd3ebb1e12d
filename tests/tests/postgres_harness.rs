//! The throwaway PostgreSQL the backup tests run against: it starts (as root too), has
//! pgcrypto, which those tests need, and refuses a wrong password.

use berth_tests::postgres::{Postgres, binaries};

#[test]
fn throwaway_postgres_serves_pgcrypto_and_checks_passwords() {
    if let Err(reason) = binaries() {
        println!("postgres harness: SKIPPED: {reason}");
        return;
    }
    let pg = Postgres::start().unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));

    let version = std::process::Command::new(pg.bin("pg_dump")).arg("--version").output().unwrap_or_else(|e| panic!("pg_dump: {e}"));
    assert!(version.status.success(), "pg_dump --version: {}", version.status);
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(version.starts_with("pg_dump (PostgreSQL)"), "pg_dump --version printed {version:?}");
    println!("postgres harness: {} on {}:{}", version.trim(), pg.host(), pg.port());

    pg.create_database("registry").unwrap_or_else(|e| panic!("{e}"));
    pg.psql("registry", "CREATE EXTENSION pgcrypto")
        .unwrap_or_else(|e| panic!("pgcrypto, which the backup tests need, is unavailable (install postgresql-contrib): {e}"));
    pg.psql("registry", "CREATE TABLE secrets (id int PRIMARY KEY, body bytea NOT NULL)").unwrap_or_else(|e| panic!("{e}"));
    pg.psql("registry", "INSERT INTO secrets VALUES (1, pgp_sym_encrypt('hello', 'k'))").unwrap_or_else(|e| panic!("{e}"));
    let plain = pg.psql("registry", "SELECT pgp_sym_decrypt(body, 'k') FROM secrets WHERE id = 1").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain, "hello");

    pg.create_role("harbor", "right-password").unwrap_or_else(|e| panic!("{e}"));
    let user = pg.psql_as("harbor", "right-password", "registry", "SELECT current_user").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(user, "harbor");
    for (user, password) in [("harbor", "wrong-password"), (pg.superuser(), "wrong-password")] {
        let error = match pg.psql_as(user, password, "registry", "SELECT 1") {
            Ok(out) => panic!("{user} with a wrong password got in: {out:?}"),
            Err(error) => error,
        };
        assert!(error.contains("password authentication failed"), "{user} with a wrong password: {error}");
    }
    println!("postgres harness: pgcrypto round trip and password checks passed");
}
