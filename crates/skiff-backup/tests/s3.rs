//! The S3 store against moto's standalone server (started here; installed by
//! scripts/install-backup-deps.sh). Skips without moto, fails under CI=true.

mod support;

use std::collections::BTreeMap;

use skiff_backup::store::{S3Settings, S3Store};
use skiff_backup::{
    Opener, Repository, Sealer, Silent, backup_directory, prune, restore_directory,
};
use skiff_model::xskiff::Keep;
use support::{fingerprint, identity, job, make_tree};

fn settings(endpoint: &str) -> S3Settings {
    S3Settings {
        credentials: Some(("testing".to_owned(), "testing".to_owned())),
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        allow_http: true,
        virtual_hosted: false,
    }
}

#[test]
fn s3_backup_restore_dedup_and_prune() {
    let Some((_moto, endpoint)) = support::moto("skiff-test") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    make_tree(&src);
    let (key, recipient) = identity(tmp.path(), "k");
    let sealer = Sealer::encrypted(&[recipient]).expect("sealer");
    let open = || {
        let store = S3Store::new("skiff-test", "backups/shop", &settings(&endpoint)).expect("s3");
        Repository::open_for_backup(Box::new(store), &sealer).expect("open")
    };
    // Two destinations at once: a local directory and the bucket.
    let repos = [
        support::local_for_backup(&tmp.path().join("local"), &sealer),
        open(),
    ];
    let first = backup_directory(&job("files", &sealer, &repos), &src).expect("backup");
    assert_eq!(first.len(), 2);
    assert_eq!(first[1].id, first[0].id);
    let second = backup_directory(&job("files", &sealer, &repos), &src).expect("backup again");
    assert!(
        second[1].added * 20 < first[1].added,
        "second added {} of {}",
        second[1].added,
        first[1].added
    );

    let repo = open();
    assert_eq!(repo.location(), "s3://skiff-test/backups/shop");
    let listed = repo.snapshots(Some("files")).expect("list");
    assert_eq!(listed.len(), 2);
    let out = tmp.path().join("out");
    restore_directory(
        &repo,
        &listed[1],
        &Opener::from_file(&key).expect("id"),
        &out,
        &Silent,
    )
    .expect("restore");
    assert_eq!(fingerprint(&src), fingerprint(&out));

    let policies = BTreeMap::from([(
        "files".to_owned(),
        Keep {
            last: 1,
            ..Keep::default()
        },
    )]);
    let plan = prune::plan(&repo, &policies, chrono::Utc::now()).expect("plan");
    assert_eq!(plan.remove.len(), 1);
    prune::apply(&repo, &plan, chrono::Utc::now()).expect("prune");
    assert_eq!(repo.snapshots(Some("files")).expect("list").len(), 1);

    // A server that does not answer is named with its location.
    let dead = S3Store::new(
        "skiff-test",
        "x",
        &settings(&format!("http://127.0.0.1:{}", support::free_port())),
    )
    .expect("client");
    let err = Repository::open(Box::new(dead)).expect_err("no server");
    assert!(err.to_string().contains("s3://skiff-test/x"), "{err}");
}
