//! The command-line grammar (clap derive), with an example in every `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wb_model::{EntityKind, Role, SyncScope};

/// wb — operator tooling of a wb community board instance.
///
/// An instance lives in a directory, as a git repository does: `wb.db` (the
/// SQLite database), `.sync/keys/`, `sync_peers.txt`, `data/public_sync/`.
#[derive(Debug, Parser)]
#[command(name = "wb", version, about, long_about = None, after_help = "\
Examples:
  wb init --instance alpha.example --fixtures fixtures/demo
  wb list request
  wb scope show request 0193…
  wb -C /srv/alpha scope set request 0193… public --as ada")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The instance directory (default: the current directory).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        default_value = "."
    )]
    pub dir: PathBuf,
    /// Use this database instead of DIR/wb.db: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "WB_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database, apply migrations and name the instance.
    #[command(after_help = "\
Examples:
  wb init --instance alpha.example
  wb init --instance alpha.example --fixtures fixtures/demo
  wb --database-url postgres://wb@db.internal/alpha init --instance alpha.example")]
    Init {
        /// The instance's name, e.g. alpha.example (a-z, 0-9, '.', '-').
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// Load the fixture files of this directory after initialising.
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Apply pending database migrations.
    #[command(after_help = "Example:\n  wb migrate")]
    Migrate,
    /// Load fixture files.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Manage members.
    #[command(subcommand)]
    User(UserCommand),
    /// Post requests.
    #[command(subcommand)]
    Request(RequestCommand),
    /// Comment on requests.
    #[command(subcommand)]
    Comment(CommentCommand),
    /// Issue and accept invites.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Show or change whether rows are shared with other instances.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// List the rows of one kind with their scopes.
    #[command(after_help = "\
Examples:
  wb list user
  wb list request --json | jq '.[] | select(.effective != \"public\")'")]
    List {
        /// user, request, comment, invite or vouch.
        entity: Entity,
        /// Print JSON (an array of objects) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Export, import and sign bundles.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Serve the admin UI (badges and scope toggles); prints the URL with a secret token.
    #[command(after_help = "\
Examples:
  wb serve                               prints http://127.0.0.1:8080/?token=…; open it
  wb serve --bind 127.0.0.1:0            any free port
  wb serve --bind 0.0.0.0:8080 --public  reachable from other machines (plain HTTP)")]
    Serve {
        /// Address to listen on; non-loopback addresses need --public.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        bind: std::net::SocketAddr,
        /// Allow a non-loopback --bind address.
        #[arg(long)]
        public: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Vouch for root users (members nobody invited, here or imported), one y/n question each.
    #[command(after_help = "\
Examples:
  wb sync vouch                       (asks for your username, then y/n per root user)
  wb sync vouch --as ada
  printf 'y\\nn\\n' | wb sync vouch --as ada   (answers from a script)

Each yes stores a vouch signed with this instance's key; it is private until
made public (wb scope set vouch ID public --as USER). Re-running never
creates duplicates.")]
    Vouch {
        /// The vouching member's username (asked for when omitted).
        #[arg(long = "as", value_name = "USER")]
        actor: Option<String>,
    },
    /// Print this instance's public key, creating the key pair under .sync/keys/ if there is none.
    #[command(after_help = "\
Example:
  wb sync keygen          (prints the public key, e.g. RWQ…, for peers to pin)

An existing key is printed, not replaced. The first export (or import) creates
the key if it is missing; a command that fails creates none.")]
    Keygen,
    /// Write the public rows as a signed bundle (one file per row, manifest, bundle.sig).
    #[command(after_help = "\
Examples:
  wb sync export                                 (into data/public_sync, see below)
  wb sync export --out /srv/share/alpha
  wb sync export --instance beta.example --out relay/beta   (relay beta's rows verbatim)

Without --out the bundle goes into data/public_sync, or, when that is a clone
of the community's shared repository (a .git or folders of bundles, no bundle
of its own), into this instance's folder of it: data/public_sync/NAME.
Only rows whose effective scope is public are written. Unchanged files are not
rewritten; the sequence number grows only when the content changes. Entries
named .* at the top (.git, .gitignore) are left alone; a directory holding
another instance's bundle is refused.")]
    Export {
        /// The bundle directory [default: data/public_sync or data/public_sync/NAME].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Export this instance's copy of another instance's rows instead.
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
    },
    /// Verify a bundle (or each bundle of a directory of bundles) and apply it in one transaction.
    #[command(after_help = "\
Examples:
  wb sync import /srv/share/beta.example --key RWQ…   (first import: pin this key)
  wb sync import /srv/share/beta.example              (key already pinned)
  wb sync import /srv/share/gamma.example --accept-new-keys
  wb sync import data/public_sync            (the community's repository: every folder)

A bundle is accepted only under the key pinned for its instance. With no pin
yet, name the key with --key (read it from the other operator) or pass
--accept-new-keys to pin the bundle's own key; either way it becomes the pin.
Older bundles are refused, the same bundle again is a no-op.
A directory of bundles is imported folder by folder, each in its own
transaction and under the same rules (--accept-new-keys applies to each), in
an order that satisfies references between them; this instance's own folder is
skipped. If any is refused the exit status is 1 and the others stay imported.")]
    Import {
        /// A bundle directory, or a directory whose folders are bundles (relative paths start at the instance directory, as with -C).
        #[arg(value_name = "DIR")]
        bundle: PathBuf,
        /// Require the bundle to be signed by this key (minisign one-line form); with no pin
        /// yet, pin it.
        #[arg(long, value_name = "PUBKEY", conflicts_with = "accept_new_keys")]
        key: Option<String>,
        /// Pin the key of a bundle whose instance has no pin yet (as ssh's accept-new).
        #[arg(long)]
        accept_new_keys: bool,
    },
    /// Export, pack and upload this instance's bundle to a hub.
    #[command(after_help = "\
Examples:
  WB_HUB_TOKEN=wbt_… wb sync push --hub https://hub.example
  wb sync push --hub hub.example --token-file ~/.config/wb/hub.token   (a hub from sync_peers.txt)

The token comes from WB_HUB_TOKEN or --token-file (the hub operator issues it
with `wb-hub token issue`); it is never written to sync_peers.txt.")]
    Push {
        /// The hub: a URL, or the name of an entry of sync_peers.txt.
        #[arg(long, value_name = "URL|PEER")]
        hub: String,
        /// Read the upload token from this file instead of WB_HUB_TOKEN.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Download, verify (against the pinned keys) and import the latest bundle of every peer.
    #[command(after_help = "\
Examples:
  wb sync pull                          (every peer in sync_peers.txt with a Key)
  wb sync pull --hub hub.example        (only peers behind that hub)
  wb sync pull --no-import              (download and verify only)

Bundles already downloaded are not fetched again (ETag); they are cached in
.sync/pull/<instance>/.")]
    Pull {
        /// Only peers behind this hub (a URL or the name of a hub entry).
        #[arg(long, value_name = "URL|PEER")]
        hub: Option<String>,
        /// Stop after verifying; import nothing.
        #[arg(long)]
        no_import: bool,
    },
    /// Edit the peer registry, sync_peers.txt.
    #[command(subcommand)]
    Peers(crate::hub_client::PeersCommand),
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Load every *.json fixture file of DIR in one transaction.
    #[command(after_help = "Example:\n  wb fixtures load fixtures/demo")]
    Load {
        /// Directory of fixture files (see docs/fixtures.md).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a local member (private until they or an admin make them public). Prints the id.
    #[command(after_help = "\
Examples:
  wb user add ada --display-name 'Ada Okafor' --role admin
  wb user add ben --invited-by ada --email ben@example.org")]
    Add {
        /// 1-32 characters of a-z, 0-9, '_' and '-'.
        username: String,
        /// Shown name (default: the username).
        #[arg(long, default_value = "")]
        display_name: String,
        /// A few words about the member.
        #[arg(long, default_value = "")]
        bio: String,
        /// Private contact address; never leaves this instance.
        #[arg(long)]
        email: Option<String>,
        /// member, moderator or admin.
        #[arg(long, default_value = "member")]
        role: RoleArg,
        /// The local member who invited them.
        #[arg(long, value_name = "USER")]
        invited_by: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Post a request as a member (private until made public). Prints the id.
    #[command(
        after_help = "Example:\n  wb request add --as ada --title 'Borrow a ladder' --body 'Saturday morning'"
    )]
    Add {
        /// The posting member's username.
        #[arg(long = "as", value_name = "USER")]
        author: String,
        /// One line.
        #[arg(long)]
        title: String,
        /// Free text.
        #[arg(long, default_value = "")]
        body: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CommentCommand {
    /// Comment on a request as a member (private until made public). Prints the id.
    #[command(
        after_help = "Example:\n  wb comment add --as ben --request 0193… --body 'I have one'"
    )]
    Add {
        /// The commenting member's username.
        #[arg(long = "as", value_name = "USER")]
        author: String,
        /// The request's id (see `wb list request`).
        #[arg(long, value_name = "ID")]
        request: String,
        /// Free text.
        #[arg(long)]
        body: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Issue an invite from a member. Prints the invite's id, then its secret code.
    #[command(after_help = "Example:\n  wb invite add --as ada")]
    Add {
        /// The inviting member's username.
        #[arg(long = "as", value_name = "USER")]
        inviter: String,
    },
    /// Accept an invite: creates the new member. Prints the new user's id.
    #[command(after_help = "Example:\n  wb invite accept 5f0c…e1 carol")]
    Accept {
        /// The code printed by `wb invite add`.
        code: String,
        /// The new member's username.
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Make a row public or private, acting as a member (the permission rules apply).
    #[command(after_help = "\
Examples:
  wb scope set request 0193… public --as ada
  wb scope set user ben private --as ben      (users also by username)")]
    Set {
        /// user, request, comment, invite or vouch.
        entity: Entity,
        /// The row's id (for users, the username works too).
        id: String,
        /// public or private.
        scope: ScopeArg,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
    },
    /// Show a row's own scope, its effective scope and why they differ.
    #[command(after_help = "Example:\n  wb scope show comment 0193…")]
    Show {
        /// user, request, comment, invite or vouch.
        entity: Entity,
        /// The row's id (for users, the username works too).
        id: String,
    },
}

/// ENTITY arguments, spelled as in the sync format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Entity {
    User,
    Request,
    Comment,
    Invite,
    Vouch,
}

impl From<Entity> for EntityKind {
    fn from(e: Entity) -> Self {
        match e {
            Entity::User => EntityKind::User,
            Entity::Request => EntityKind::Request,
            Entity::Comment => EntityKind::Comment,
            Entity::Invite => EntityKind::Invite,
            Entity::Vouch => EntityKind::Vouch,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    Public,
    Private,
}

impl From<ScopeArg> for SyncScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Public => SyncScope::Public,
            ScopeArg::Private => SyncScope::Private,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Member,
    Moderator,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Member => Role::Member,
            RoleArg::Moderator => Role::Moderator,
            RoleArg::Admin => Role::Admin,
        }
    }
}
