//! One function per command: open the instance, call the engine, print.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use wb_engine::{Instance, NewUser, RequestEdit, UserEdit, fixtures};
use wb_model::{EntityKind, InstanceName, Username, Uuid};
use wb_store::Store;

use crate::cli::{
    Cli, Command, CommentCommand, FixturesCommand, Global, InviteCommand, RequestCommand,
    ScopeCommand, ShellArg, UserCommand,
};
use crate::output;

/// The default database file of an instance directory.
const DB_FILE: &str = "wb.db";

pub async fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Init {
            instance,
            fixtures: fixture_dir,
        } => {
            let name = InstanceName::parse(&instance)?;
            let store = open_store(global, true).await?;
            let instance = Instance::init(store, name).await?;
            println!(
                "initialised instance {} ({})",
                instance.name(),
                describe_db(global)
            );
            if let Some(dir) = fixture_dir {
                load_fixtures(&instance, &dir).await?;
            }
            instance.store().close().await;
        }
        Command::Completions { shell } => {
            let shell = match shell {
                ShellArg::Bash => clap_complete::Shell::Bash,
                ShellArg::Zsh => clap_complete::Shell::Zsh,
                ShellArg::Fish => clap_complete::Shell::Fish,
            };
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "wb", &mut std::io::stdout());
        }
        Command::Man { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::generate_to(command, &out)
                .with_context(|| format!("cannot write man pages into {}", out.display()))?;
            println!("wrote man pages into {}", out.display());
        }
        Command::Migrate => {
            let store = open_store(global, false).await?;
            let applied = store.migrate().await?;
            if applied == 0 {
                println!("database is up to date");
            } else {
                println!("applied {applied} migration(s)");
            }
            store.close().await;
        }
        Command::Sync(command) => {
            let instance = open_instance(global).await?;
            let result = crate::sync::run(global, &instance, command).await;
            instance.store().close().await;
            result?;
        }
        Command::Fixtures(FixturesCommand::Load { fixtures }) => {
            let instance = open_instance(global).await?;
            load_fixtures(&instance, &fixtures).await?;
            instance.store().close().await;
        }
        Command::Serve { bind, public } => {
            let instance = open_instance(global).await?;
            // The admin UI's status page reads the key, the export and the
            // peer registry from the instance directory.
            let config = wb_admin::ServeConfig {
                bind,
                public,
                instance_dir: Some(global.dir.clone()),
            };
            let result = wb_admin::serve(instance.clone(), config).await;
            instance.store().close().await;
            result?;
        }
        command => {
            let instance = open_instance(global).await?;
            let result = run_on_instance(&instance, command).await;
            instance.store().close().await;
            result?;
        }
    }
    Ok(())
}

async fn run_on_instance(instance: &Instance, command: Command) -> Result<()> {
    match command {
        Command::User(UserCommand::Add {
            username,
            display_name,
            bio,
            email,
            role,
            invited_by,
        }) => {
            let invited_by = invited_by.map(|name| Username::parse(&name)).transpose()?;
            let user = instance
                .add_user(NewUser {
                    username: Username::parse(&username)?,
                    display_name,
                    bio,
                    email,
                    role: role.into(),
                    invited_by,
                })
                .await?;
            println!("{}", user.id);
        }
        Command::User(UserCommand::Edit {
            username,
            actor,
            display_name,
            bio,
            email,
            no_email,
            role,
        }) => {
            let edit = UserEdit {
                display_name,
                bio,
                email: if no_email {
                    Some(None)
                } else {
                    email.map(Some)
                },
                role: role.map(Into::into),
            };
            let user = instance.edit_user(&username, &actor, edit).await?;
            println!("updated user @{}", user.username);
        }
        Command::User(UserCommand::Delete { username, actor }) => {
            instance.delete_user(&username, &actor).await?;
            println!("deleted user @{username}");
        }
        Command::Request(RequestCommand::Edit {
            id,
            actor,
            title,
            body,
            status,
        }) => {
            let id = resolve_id(instance, EntityKind::Request, &id).await?;
            let edit = RequestEdit {
                title,
                body,
                status: status.map(Into::into),
            };
            let request = instance.edit_request(id, &actor, edit).await?;
            println!(
                "updated request {} ({:?}, {})",
                request.id, request.title, request.status
            );
        }
        Command::Request(RequestCommand::Delete { id, actor }) => {
            let id = resolve_id(instance, EntityKind::Request, &id).await?;
            let deleted = instance.delete_request(id, &actor).await?;
            match deleted.comments {
                0 => println!("deleted request {id}"),
                n => println!("deleted request {id} and its {n} comment(s)"),
            }
        }
        Command::Comment(CommentCommand::Edit { id, actor, body }) => {
            let id = resolve_id(instance, EntityKind::Comment, &id).await?;
            instance.edit_comment(id, &actor, &body).await?;
            println!("updated comment {id}");
        }
        Command::Comment(CommentCommand::Delete { id, actor }) => {
            let id = resolve_id(instance, EntityKind::Comment, &id).await?;
            instance.delete_comment(id, &actor).await?;
            println!("deleted comment {id}");
        }
        Command::Invite(InviteCommand::Revoke { id, actor }) => {
            let id = resolve_id(instance, EntityKind::Invite, &id).await?;
            let invite = instance.revoke_invite(id, &actor).await?;
            println!("invite {id} is {}", invite.status);
        }
        Command::User(UserCommand::List { json }) => {
            output::print_list(instance, EntityKind::User, json).await?;
        }
        Command::Request(RequestCommand::List { json }) => {
            output::print_list(instance, EntityKind::Request, json).await?;
        }
        Command::Comment(CommentCommand::List { json }) => {
            output::print_list(instance, EntityKind::Comment, json).await?;
        }
        Command::Invite(InviteCommand::List { json }) => {
            output::print_list(instance, EntityKind::Invite, json).await?;
        }
        Command::Request(RequestCommand::Add {
            author,
            title,
            body,
        }) => {
            let request = instance.add_request(&author, &title, &body).await?;
            println!("{}", request.id);
        }
        Command::Comment(CommentCommand::Add {
            author,
            request,
            body,
        }) => {
            let request_id = resolve_id(instance, EntityKind::Request, &request).await?;
            let comment = instance.add_comment(&author, request_id, &body).await?;
            println!("{}", comment.id);
        }
        Command::Invite(InviteCommand::Add { inviter }) => {
            let invite = instance.add_invite(&inviter).await?;
            println!("{}", invite.id);
            // Shown once, to the operator, to pass on to the invitee.
            println!("{}", invite.code.as_deref().unwrap_or_default());
        }
        Command::Invite(InviteCommand::Accept { code, username }) => {
            let user = instance
                .accept_invite(&code, Username::parse(&username)?)
                .await?;
            println!("{}", user.id);
        }
        Command::Scope(ScopeCommand::Set {
            entity,
            id,
            scope,
            actor,
        }) => {
            let kind = entity.into();
            let id = resolve_id(instance, kind, &id).await?;
            let change = instance.set_scope(kind, id, scope.into(), &actor).await?;
            let verb = if change.before == change.after {
                "already"
            } else {
                "now"
            };
            let effective = output::describe_effective(instance, &change.effective).await?;
            // Names and reasons may quote rows imported from elsewhere.
            let line = format!(
                "{} is {verb} {} (effective: {effective})",
                output::named(instance, kind, id).await?,
                change.after
            );
            println!("{}", wb_model::text::escape_control(&line));
        }
        Command::Scope(ScopeCommand::Show { entity, id, json }) => {
            let kind = entity.into();
            let id = resolve_id(instance, kind, &id).await?;
            let report = instance.scope_report(kind, id).await?;
            if json {
                output::print_scope_report_json(instance, &report).await?;
            } else {
                output::print_scope_report(instance, &report).await?;
            }
        }
        Command::List { entity, json } => {
            output::print_list(instance, entity.into(), json).await?;
        }
        Command::Init { .. }
        | Command::Serve { .. }
        | Command::Migrate
        | Command::Fixtures(_)
        | Command::Sync(_)
        | Command::Completions { .. }
        | Command::Man { .. } => {
            unreachable!("handled before the instance is opened")
        }
    }
    Ok(())
}

async fn load_fixtures(instance: &Instance, dir: &Path) -> Result<()> {
    let progress = crate::progress::TerminalProgress::default();
    let summary = fixtures::load_with_progress(instance, dir, &progress).await?;
    println!(
        "loaded {} users, {} requests, {} comments, {} invites from {}",
        summary.users,
        summary.requests,
        summary.comments,
        summary.invites,
        dir.display()
    );
    Ok(())
}

fn describe_db(global: &Global) -> String {
    match &global.database_url {
        Some(url) if url.starts_with("postgres") => "Postgres database".to_owned(),
        Some(url) => url.clone(),
        None => global.dir.join(DB_FILE).display().to_string(),
    }
}

/// Opens the instance's database; without `create`, a missing default
/// SQLite file is reported as a missing instance.
async fn open_store(global: &Global, create: bool) -> Result<Store> {
    if let Some(url) = &global.database_url {
        return Ok(Store::connect(url, create).await?);
    }
    let path = global.dir.join(DB_FILE);
    if !create && !path.exists() {
        bail!(
            "no wb instance in {} (no {DB_FILE}): run `wb init --instance NAME` there first, \
             or pass --database-url",
            display_dir(&global.dir)
        );
    }
    if create {
        std::fs::create_dir_all(&global.dir).with_context(|| {
            format!("cannot create instance directory {}", global.dir.display())
        })?;
    }
    Ok(Store::open_sqlite(&path, create).await?)
}

pub async fn open_instance(global: &Global) -> Result<Instance> {
    let store = open_store(global, false).await?;
    Ok(Instance::open(store).await?)
}

fn display_dir(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .display()
        .to_string()
}

/// Ids as the operator types them: an id, a unique prefix of one, and for
/// users `name` or `name@origin`.
async fn resolve_id(instance: &Instance, kind: EntityKind, text: &str) -> Result<Uuid> {
    Ok(instance.resolve(kind, text).await?)
}
