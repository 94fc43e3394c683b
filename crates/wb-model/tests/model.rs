//! Rule-by-rule tests of the domain: names, timestamps, effective scope,
//! scope-toggle permissions and public projections.

use wb_model::{
    Actor, EffectiveScopes, EntityKind, InstanceName, Invite, InviteStatus, PublicInvite,
    PublicUser, Reference, Relation, Role, ScopeDenied, ScopeFacts, ScopeTarget, SyncScope,
    Timestamp, User, Username, Uuid, check_scope_change, effective_scope,
};

fn instance(name: &str) -> InstanceName {
    InstanceName::parse(name).expect("test instance names are valid")
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

#[test]
fn new_rows_are_private_by_default() {
    assert_eq!(SyncScope::default(), SyncScope::Private);
}

#[test]
fn timestamps_have_one_text_form_and_survive_micros() {
    let t = ts("2026-11-24T10:00:00.123456Z");
    assert_eq!(t.to_string(), "2026-11-24T10:00:00.123456Z");
    assert_eq!(Timestamp::from_unix_micros(t.unix_micros()), Ok(t));
    for bad in [
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00.123Z",
        "2026-11-24T10:00:00.123456+00:00",
        "2026-11-24 10:00:00.123456Z",
        "2026-13-24T10:00:00.123456Z",
        "",
    ] {
        assert!(
            bad.parse::<Timestamp>().is_err(),
            "{bad:?} should be refused"
        );
    }
    // now() is truncated to microseconds, so it round-trips through text.
    let now = Timestamp::now();
    assert_eq!(now.to_string().parse::<Timestamp>(), Ok(now));
}

#[test]
fn names_follow_their_rules() {
    let check = |input: &str, ok: bool| {
        assert_eq!(Username::parse(input).is_ok(), ok, "username {input:?}");
    };
    check("alice", true);
    check("a_b-9", true);
    check("9lives", true);
    check("", false);
    check("Alice", false);
    check("_alice", false);
    check("al ice", false);
    check(&"a".repeat(33), false);

    assert!(InstanceName::parse("alpha.example").is_ok());
    for bad in [
        "", "Alpha", ".alpha", "alpha.", "a..b", "a/b", "a_b", "../x",
    ] {
        let err = InstanceName::parse(bad).expect_err(bad);
        assert!(err.to_string().contains("instance name"), "{err}");
    }
}

#[test]
fn entity_words_round_trip() {
    for kind in EntityKind::ALL {
        assert_eq!(kind.as_str().parse::<EntityKind>(), Ok(*kind));
    }
    let err = "post".parse::<EntityKind>().expect_err("unknown entity");
    assert!(
        err.contains("user, request, comment, invite, vouch"),
        "{err}"
    );
}

// ---- effective scope --------------------------------------------------------

fn reference(relation: Relation, exported: bool, own_scope: SyncScope) -> Reference {
    Reference {
        relation,
        id: Uuid::nil(),
        exported,
        own_scope,
    }
}

#[test]
fn effective_scope_cases() {
    use SyncScope::{Private, Public};
    let check = |own, imported, refs: &[Reference], expected: &str| {
        assert_eq!(effective_scope(own, imported, refs).to_string(), expected);
    };
    // Own flag decides first.
    check(Private, false, &[], "Private");
    check(Public, false, &[], "Public");
    // A public comment on a private request stays home.
    check(
        Public,
        false,
        &[
            reference(Relation::Request, false, Private),
            reference(Relation::Author, true, Public),
        ],
        "Public, held back: its request (request 00000000-0000-0000-0000-000000000000) is private",
    );
    // A request by an author who is public but held back in turn.
    check(
        Public,
        false,
        &[reference(Relation::Author, false, Public)],
        "Public, held back: its author (user 00000000-0000-0000-0000-000000000000) is itself held back",
    );
    // Private own scope wins over held-back references.
    check(
        Private,
        false,
        &[reference(Relation::Author, false, Private)],
        "Private",
    );
    // Imported rows count as exported whatever is known locally, until
    // their origin withdraws them.
    check(Private, true, &[], "Private");
    check(
        Public,
        true,
        &[reference(Relation::Author, false, Private)],
        "Public",
    );
    // All references exported: exported.
    check(
        Public,
        false,
        &[
            reference(Relation::Inviter, true, Public),
            reference(Relation::Invitee, true, Public),
        ],
        "Public",
    );
    assert!(effective_scope(Public, false, &[]).is_exported());
    assert!(!effective_scope(Private, false, &[]).is_exported());
}

/// A row for `EffectiveScopes`: `n` is its id, `refs` the ids it references.
fn row(kind: EntityKind, n: u128, own: SyncScope, imported: bool, refs: [u128; 2]) -> ScopeFacts {
    let id = |n: u128| (n != 0).then(|| Uuid::from_u128(n));
    ScopeFacts {
        kind,
        id: Uuid::from_u128(n),
        own,
        imported,
        refs: refs.map(id),
    }
}

#[test]
fn effective_scopes_give_the_badge_and_the_export_verdict() {
    use EntityKind::{Comment, Invite, Request, User, Vouch};
    use SyncScope::{Private, Public};
    // Users 1 (local, public), 2 (local, private), 3 (imported, public), 4
    // (imported, withdrawn by its origin); request 10 by each in turn.
    let mut scopes = EffectiveScopes::new();
    for (n, own, imported) in [
        (1, Public, false),
        (2, Private, false),
        (3, Public, true),
        (4, Private, true),
    ] {
        let user = row(User, n, own, imported, [0, 0]);
        assert_eq!(
            scopes.effective(&user).is_exported(),
            own == Public,
            "user {n}"
        );
        assert!(scopes.knows(User, user.id));
    }
    // (row, its badge, whether this instance's export writes it)
    let cases: [(ScopeFacts, &str, bool); 12] = [
        (row(Request, 11, Public, false, [1, 0]), "Public", true),
        (
            row(Request, 12, Public, false, [2, 0]),
            "Public, held back: its author (user 00000000-0000-0000-0000-000000000002) is private",
            false,
        ),
        // A local request naming another instance's user as its author
        // (only a database edited by hand holds one): public by §1, but an
        // instance speaks only for its own users (§5), so not exported.
        (row(Request, 13, Public, false, [3, 0]), "Public", false),
        // Imported rows count as exported by their origin, and are never
        // this instance's to export.
        (row(Request, 14, Public, true, [3, 0]), "Public", false),
        (row(Request, 15, Private, false, [1, 0]), "Private", false),
        // Comments by user 1 on those requests: held back with request 13
        // in the export, though its badge says public.
        (row(Comment, 21, Public, false, [11, 1]), "Public", true),
        (
            row(Comment, 22, Public, false, [12, 1]),
            "Public, held back: its request (request 00000000-0000-0000-0000-00000000000c) is itself held back",
            false,
        ),
        (row(Comment, 23, Public, false, [13, 1]), "Public", false),
        (row(Comment, 24, Public, false, [14, 1]), "Public", true),
        // A vouch for another instance's user: the subject is acted on,
        // not an actor, so it travels; not for a withdrawn one.
        (row(Vouch, 31, Public, false, [1, 3]), "Public", true),
        (
            row(Vouch, 32, Public, false, [1, 4]),
            "Public, held back: its subject (user 00000000-0000-0000-0000-000000000004) is private",
            false,
        ),
        // An invite accepted by another instance's user: an actor.
        (row(Invite, 41, Public, false, [1, 3]), "Public", false),
    ];
    for (facts, badge, exported) in &cases {
        assert_eq!(scopes.effective(facts).to_string(), *badge, "{facts:?}");
        assert_eq!(scopes.exported(facts), *exported, "{facts:?}");
    }
    // A reference to a row not decided (yet) counts as private.
    let orphan = row(Comment, 51, Public, false, [99, 1]);
    assert!(!scopes.knows(Request, Uuid::from_u128(99)));
    assert_eq!(
        scopes.effective(&orphan).to_string(),
        "Public, held back: its request (request 00000000-0000-0000-0000-000000000063) is private"
    );
    // Only users and requests, which rows reference, are remembered.
    assert!(scopes.knows(Request, Uuid::from_u128(13)));
    assert!(!scopes.knows(Comment, Uuid::from_u128(21)));
}

#[test]
fn every_relation_points_at_an_earlier_kind() {
    for (i, kind) in EntityKind::ALL.iter().enumerate() {
        for relation in kind.relations().into_iter().flatten() {
            let target = EntityKind::ALL
                .iter()
                .position(|k| *k == relation.target_kind());
            assert!(target.is_some_and(|t| t < i), "{kind}: {relation:?}");
        }
    }
    let actors: Vec<Relation> = [
        Relation::Author,
        Relation::Request,
        Relation::Inviter,
        Relation::Invitee,
        Relation::Voucher,
        Relation::Subject,
    ]
    .into_iter()
    .filter(|r| r.is_actor())
    .collect();
    assert_eq!(
        actors,
        [
            Relation::Author,
            Relation::Inviter,
            Relation::Invitee,
            Relation::Voucher
        ]
    );
}

// ---- permissions ------------------------------------------------------------

const OWNER: Uuid = Uuid::from_u128(1);
const OTHER: Uuid = Uuid::from_u128(2);

fn actor(user_id: Uuid, role: Role, origin: &str) -> Actor {
    Actor {
        user_id,
        role,
        origin: instance(origin),
    }
}

fn target(kind: EntityKind, origin: &str) -> ScopeTarget {
    ScopeTarget {
        kind,
        id: Uuid::from_u128(99),
        owner_id: OWNER,
        origin: instance(origin),
    }
}

/// Expected verdict: `None` allowed, `Some(rule)` denied by that rule.
fn check_permission(actor: &Actor, target: &ScopeTarget, to: SyncScope, expected: Option<&str>) {
    let local = instance("alpha.example");
    let verdict = check_scope_change(&local, actor, target, to);
    assert_eq!(
        verdict.as_ref().err().map(ScopeDenied::rule),
        expected,
        "{actor:?} setting {target:?} to {to}: {verdict:?}"
    );
    if let Err(denied) = verdict {
        assert!(
            denied.to_string().contains(denied.rule()),
            "message names the rule: {denied}"
        );
    }
}

#[test]
fn owners_may_set_either_scope_on_every_entity() {
    for kind in EntityKind::ALL {
        for to in SyncScope::ALL {
            for role in Role::ALL {
                let owner = actor(OWNER, *role, "alpha.example");
                check_permission(&owner, &target(*kind, "alpha.example"), *to, None);
            }
        }
    }
}

#[test]
fn admins_may_set_either_scope_on_any_local_row() {
    for kind in EntityKind::ALL {
        for to in SyncScope::ALL {
            let admin = actor(OTHER, Role::Admin, "alpha.example");
            check_permission(&admin, &target(*kind, "alpha.example"), *to, None);
        }
    }
}

#[test]
fn moderators_may_make_private_but_not_public() {
    for kind in EntityKind::ALL {
        let moderator = actor(OTHER, Role::Moderator, "alpha.example");
        let local = target(*kind, "alpha.example");
        check_permission(&moderator, &local, SyncScope::Private, None);
        check_permission(
            &moderator,
            &local,
            SyncScope::Public,
            Some("moderator-private-only"),
        );
    }
}

#[test]
fn members_may_not_touch_other_peoples_rows() {
    for kind in EntityKind::ALL {
        for to in SyncScope::ALL {
            let member = actor(OTHER, Role::Member, "alpha.example");
            check_permission(
                &member,
                &target(*kind, "alpha.example"),
                *to,
                Some("owner-or-admin"),
            );
        }
    }
}

#[test]
fn nobody_toggles_an_imported_row() {
    for kind in EntityKind::ALL {
        for to in SyncScope::ALL {
            for role in Role::ALL {
                for who in [OWNER, OTHER] {
                    let a = actor(who, *role, "alpha.example");
                    check_permission(
                        &a,
                        &target(*kind, "beta.example"),
                        *to,
                        Some("imported-read-only"),
                    );
                }
            }
        }
    }
}

#[test]
fn imported_users_do_not_act_here() {
    let foreign_admin = actor(OWNER, Role::Admin, "beta.example");
    check_permission(
        &foreign_admin,
        &target(EntityKind::Request, "alpha.example"),
        SyncScope::Public,
        Some("local-actor"),
    );
}

#[test]
fn denial_messages_name_the_owner_word() {
    let member = actor(OTHER, Role::Member, "alpha.example");
    let local = instance("alpha.example");
    let cases = [
        (EntityKind::User, "user themself"),
        (EntityKind::Request, "author"),
        (EntityKind::Comment, "author"),
        (EntityKind::Invite, "inviter"),
        (EntityKind::Vouch, "voucher"),
    ];
    for (kind, word) in cases {
        let err = check_scope_change(
            &local,
            &member,
            &target(kind, "alpha.example"),
            SyncScope::Public,
        )
        .expect_err("member is not the owner");
        assert!(err.to_string().contains(word), "{kind}: {err}");
    }
}

// ---- projections ------------------------------------------------------------

#[test]
fn public_projections_carry_no_private_field() {
    let user = User {
        id: Uuid::from_u128(7),
        origin: instance("alpha.example"),
        username: Username::parse("alice").expect("valid"),
        display_name: "Alice".into(),
        bio: "hi".into(),
        email: Some("canary-email@example.invalid".into()),
        role: Role::Admin,
        invited_by: Some(Uuid::from_u128(8)),
        scope: SyncScope::Public,
        created_at: ts("2026-11-24T10:00:00.000000Z"),
        updated_at: ts("2026-11-24T11:00:00.000000Z"),
    };
    let json = serde_json::to_string(&PublicUser::from(&user)).expect("serializes");
    assert_eq!(
        json,
        r#"{"username":"alice","display_name":"Alice","bio":"hi","created_at":"2026-11-24T10:00:00.000000Z"}"#
    );
    assert!(!json.contains("canary") && !json.contains("admin"));

    let invite = Invite {
        id: Uuid::from_u128(9),
        origin: instance("alpha.example"),
        inviter_id: Uuid::from_u128(7),
        invitee_id: None,
        status: InviteStatus::Pending,
        code: Some("CANARY-CODE".into()),
        scope: SyncScope::Public,
        created_at: ts("2026-11-24T10:00:00.000000Z"),
        updated_at: ts("2026-11-24T10:00:00.000000Z"),
    };
    let json = serde_json::to_string(&PublicInvite::from(&invite)).expect("serializes");
    assert!(!json.contains("CANARY"), "{json}");
    assert!(json.contains(r#""status":"pending""#), "{json}");
}

#[test]
fn text_from_outside_is_shown_with_its_control_characters_escaped() {
    use std::borrow::Cow;
    use wb_model::text::escape_control;
    let check = |input: &str, expected: &str| {
        let shown = escape_control(input);
        assert_eq!(shown, expected, "{input:?}");
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        // Escaping what is already escaped changes nothing.
        assert_eq!(escape_control(&shown), shown);
    };
    check("plain text, Zoë ✓", "plain text, Zoë ✓");
    check("\u{1b}]0;title\u{7}", r"\x1b]0;title\x07");
    check(
        "\u{1b}[2J\u{1b}]8;;https://x\u{1b}\\",
        r"\x1b[2J\x1b]8;;https://x\x1b\",
    );
    check("a\nb\tc\rd\0e", r"a\nb\tc\rd\x00e");
    check("del\u{7f} csi\u{9b}31m", r"del\x7f csi\u{9b}31m");
    check(
        "evil\u{202e}txt.exe\u{2066}",
        r"evil\u{202e}txt.exe\u{2066}",
    );
    assert!(matches!(escape_control("nothing to do"), Cow::Borrowed(_)));
}
