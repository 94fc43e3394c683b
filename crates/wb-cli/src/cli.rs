//! The command-line grammar (clap derive), with an example in every `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wb_model::{EntityKind, RequestStatus, Role, SyncScope};

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
    /// The instance directory [default: the current directory].
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        default_value = ".",
        hide_default_value = true
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
    #[command(
        subcommand,
        after_help = "Example:\n  wb -C alpha fixtures load fixtures/demo"
    )]
    Fixtures(FixturesCommand),
    /// Manage members: add, edit, delete, list.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb user add erin --display-name Erin --email erin@example.org
  wb user edit erin --as erin --bio 'Fixes bikes'
  wb user list"
    )]
    User(UserCommand),
    /// Post, edit, close and delete requests.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb request add --as erin --title 'Borrow a drill'
  wb request edit 0193… --as erin --status fulfilled
  wb request list"
    )]
    Request(RequestCommand),
    /// Comment on requests; edit and delete comments.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb comment add --as ben --request 0193… --body 'I have one'
  wb comment delete 0193… --as ben"
    )]
    Comment(CommentCommand),
    /// Issue, accept and revoke invites.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb invite add --as ada            (prints the id, then the secret code)
  wb invite accept 5f0c…e1 carol
  wb invite revoke 0193… --as ada"
    )]
    Invite(InviteCommand),
    /// Show or change whether rows are shared with other instances.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb scope show request 0193…
  wb scope set user erin public --as erin"
    )]
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
    /// Export, import and sign bundles; push to and pull from hubs; peers and vouches.
    #[command(
        subcommand,
        after_help = "\
Examples:
  wb sync export                          (signed bundle in data/public_sync)
  wb sync import ../shared/beta.example --key RWQ…
  wb sync push --hub hub.example
  wb sync pull
  wb sync peers list"
    )]
    Sync(SyncCommand),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(after_help = "\
Examples:
  wb completions bash > ~/.local/share/bash-completion/completions/wb
  wb completions zsh > ~/.zfunc/_wb
  wb completions fish > ~/.config/fish/completions/wb.fish")]
    Completions {
        /// bash, zsh or fish.
        shell: ShellArg,
    },
    /// Write man pages (wb.1, wb-sync-export.1, …) generated from this grammar into DIR.
    #[command(after_help = "Example:\n  wb man --out /usr/local/share/man/man1")]
    Man {
        /// The directory to write the pages into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Serve the admin UI (badges and scope toggles); prints the URL with a secret token.
    #[command(after_help = "\
Examples:
  wb serve                               prints http://127.0.0.1:8080/?token=…; open it
  wb serve --bind 127.0.0.1:0            any free port
  wb serve --bind 0.0.0.0:8080 --public  reachable from other machines (plain HTTP)")]
    Serve {
        /// Address to listen on, HOST:PORT (a name such as localhost works); non-loopback
        /// addresses need --public.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
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
Examples:
  wb sync keygen          (prints the public key, e.g. RWQ…, for peers to pin)
  wb sync keygen --rotate (a new key, vouched for by the old one)

An existing key is printed, not replaced: --rotate replaces it. The first
export (or import) creates the key if it is missing; a command that fails
creates none. --rotate keeps the old key under .sync/keys/retired/ and appends
a rotation statement signed by it to .sync/keys/<instance>.rotations; every
later bundle carries that chain, and peers and hubs that pinned the old key
follow it (docs/keys.md).")]
    Keygen {
        /// Replace the existing key with a new one, signed over by the old key.
        #[arg(long)]
        rotate: bool,
    },
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
        /// Print the summary as JSON (shape in docs/workflow.md).
        #[arg(long)]
        json: bool,
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
--accept-new-keys to pin the bundle's own key; either way it becomes the pin
(see `wb sync peers list`). A pin changes only with `wb sync peers pin`.
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
        #[arg(long, value_name = "PUBKEY", conflicts_with = "accept_new_keys", value_parser = parse_public_key)]
        key: Option<String>,
        /// Pin the key of a bundle whose instance has no pin yet (as ssh's accept-new).
        #[arg(long)]
        accept_new_keys: bool,
        /// Print what happened as JSON, one entry per bundle (shape in docs/workflow.md).
        #[arg(long)]
        json: bool,
    },
    /// Export, pack and upload this instance's bundle to a hub.
    #[command(after_help = "\
Examples:
  WB_HUB_TOKEN=wbt_… wb sync push --hub https://hub.example
  wb sync push --hub hub.example --token-file ~/.config/wb/hub.token   (a hub from sync_peers.txt)
  wb sync push --hub hub.example --timeout 60                          (give up after a minute)

The token comes from WB_HUB_TOKEN or --token-file (the hub operator issues it
with `wb-hub token issue`); it is never written to sync_peers.txt.")]
    Push {
        /// The hub: a URL, or the name of an entry of sync_peers.txt.
        #[arg(long, value_name = "URL|PEER")]
        hub: String,
        /// Read the upload token from this file instead of WB_HUB_TOKEN.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Deadline of the whole upload in seconds: connecting, sending the archive, and the hub's answer.
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = wb_hub_client::client::DEFAULT_TIMEOUT.as_secs(),
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        timeout: u64,
        /// Print the outcome as JSON (shape in docs/hub.md).
        #[arg(long)]
        json: bool,
    },
    /// Download, verify (against the pinned keys) and import the latest bundle of every peer.
    #[command(after_help = "\
Examples:
  wb sync pull                          (every peer in sync_peers.txt with a pinned key)
  wb sync pull --hub hub.example        (only peers behind that hub)
  wb sync pull --no-import              (download and verify only)
  wb sync pull --timeout 60             (give up on a peer after a minute)
  wb sync pull --max-bytes 1073741824 --max-files 2000000   (a very large peer)

Each download must finish within --timeout and stay within --max-bytes and
--max-files; it is verified in memory (signature against the pinned key,
every hash) before anything is written. Bundles already downloaded are not
fetched again (ETag); verified archives are cached in .sync/pull/<instance>/.")]
    Pull {
        /// Only peers behind this hub (a URL or the name of a hub entry).
        #[arg(long, value_name = "URL|PEER")]
        hub: Option<String>,
        /// Stop after verifying; import nothing.
        #[arg(long)]
        no_import: bool,
        /// Deadline of each download in seconds: connecting, the headers and the whole archive.
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = wb_hub_client::client::DEFAULT_TIMEOUT.as_secs(),
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        timeout: u64,
        /// Largest archive accepted from the hub, in bytes; a download is stopped when it passes this.
        #[arg(
            long,
            value_name = "N",
            default_value_t = wb_hub_client::client::DEFAULT_MAX_DOWNLOAD_BYTES
        )]
        max_bytes: u64,
        /// Most row files a pulled bundle may hold (its archive may hold these, the manifest and the signature).
        #[arg(
            long,
            value_name = "N",
            default_value_t = wb_syncfmt::bundle::Limits::default().max_files
        )]
        max_files: u64,
        /// Print the outcome as JSON (shape in docs/hub.md).
        #[arg(long)]
        json: bool,
    },
    /// Hubs and peers (sync_peers.txt) and the pinned keys of other instances.
    #[command(subcommand)]
    Peers(crate::hub_client::PeersCommand),
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Load every *.json fixture file of DIR in one transaction.
    #[command(after_help = "Example:\n  wb fixtures load fixtures/demo")]
    Load {
        /// Directory of fixture files (see docs/fixtures.md); loaded into the instance of -C.
        #[arg(value_name = "DIR")]
        fixtures: PathBuf,
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
        /// 1-32 characters of a-z, 0-9, '_' and '-', starting with a letter or digit.
        username: String,
        /// Shown name [default: the username].
        #[arg(long, default_value = "", hide_default_value = true)]
        display_name: String,
        /// A few words about the member.
        #[arg(long, default_value = "", hide_default_value = true)]
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
    /// Change a local member's profile, email or role (the member themself or an admin;
    /// only an admin changes a role).
    #[command(after_help = "\
Examples:
  wb user edit ada --as ada --display-name 'Ada O.' --bio 'Tool library'
  wb user edit ben --as ada --role moderator
  wb user edit ben --as ben --no-email

A public profile's change travels as an update on the next export.")]
    Edit {
        /// The member's username.
        username: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
        /// New shown name (empty: the username).
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// New bio.
        #[arg(long, value_name = "TEXT")]
        bio: Option<String>,
        /// New private email.
        #[arg(long, value_name = "ADDRESS", conflicts_with = "no_email")]
        email: Option<String>,
        /// Remove the email.
        #[arg(long)]
        no_email: bool,
        /// New role: member, moderator or admin.
        #[arg(long)]
        role: Option<RoleArg>,
    },
    /// Delete a local member who has no content (the member themself or an admin).
    #[command(after_help = "\
Example:
  wb user delete erin --as ada

A member who wrote, invited, was vouched for or vouched is not deleted: hide
the profile instead (wb scope set user erin private --as erin). A deleted
public profile is retracted by every peer on its next import.")]
    Delete {
        /// The member's username.
        username: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
    },
    /// List members (the same as `wb list user`).
    #[command(after_help = "Example:\n  wb user list --json")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
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
        /// Free text [default: empty].
        #[arg(long, default_value = "", hide_default_value = true)]
        body: String,
    },
    /// Change a local request's title, body or status (its author or an admin).
    #[command(after_help = "\
Examples:
  wb request edit 0193… --as ada --status fulfilled
  wb request edit 0193… --as ada --title 'Borrow a long ladder'

A public request's change travels as an update on the next export.")]
    Edit {
        /// The request's id.
        id: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
        /// New title (one line).
        #[arg(long, value_name = "TEXT")]
        title: Option<String>,
        /// New body.
        #[arg(long, value_name = "TEXT")]
        body: Option<String>,
        /// New status: open, fulfilled or closed.
        #[arg(long)]
        status: Option<StatusArg>,
    },
    /// Delete a local request with this instance's comments on it (its author or an admin).
    #[command(after_help = "\
Example:
  wb request delete 0193… --as ada

Every peer retracts it on its next import. A request other instances have
commented on is not deleted: close it instead (--status closed).")]
    Delete {
        /// The request's id.
        id: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
    },
    /// List requests (the same as `wb list request`).
    #[command(after_help = "Example:\n  wb request list --json")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
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
    /// Change a local comment's text (its author or an admin).
    #[command(after_help = "Example:\n  wb comment edit 0193… --as ben --body 'I have two'")]
    Edit {
        /// The comment's id.
        id: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
        /// New text.
        #[arg(long)]
        body: String,
    },
    /// Delete a local comment (its author or an admin); peers retract it on their next import.
    #[command(after_help = "Example:\n  wb comment delete 0193… --as ben")]
    Delete {
        /// The comment's id.
        id: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
    },
    /// List comments (the same as `wb list comment`).
    #[command(after_help = "Example:\n  wb comment list --json")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
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
    /// Revoke a pending invite (its inviter or an admin): its code stops working.
    #[command(after_help = "Example:\n  wb invite revoke 0193… --as ada")]
    Revoke {
        /// The invite's id.
        id: String,
        /// The acting member's username.
        #[arg(long = "as", value_name = "USER")]
        actor: String,
    },
    /// List invites (the same as `wb list invite`).
    #[command(after_help = "Example:\n  wb invite list")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
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
    #[command(after_help = "\
Examples:
  wb scope show comment 0193…
  wb scope show user bea@beta.example --json")]
    Show {
        /// user, request, comment, invite or vouch.
        entity: Entity,
        /// The row's id or a unique prefix (users: name or name@origin too).
        id: String,
        /// Print JSON: {entity, id, name, origin, local, scope, effective, held_back_reason?}.
        #[arg(long)]
        json: bool,
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
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusArg {
    Open,
    Fulfilled,
    Closed,
}

impl From<StatusArg> for RequestStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Open => RequestStatus::Open,
            StatusArg::Fulfilled => RequestStatus::Fulfilled,
            StatusArg::Closed => RequestStatus::Closed,
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

/// `--bind`: `HOST:PORT`, resolved (so `localhost:8090` works); the first
/// address the name resolves to.
fn parse_bind(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let mut addrs = text.to_socket_addrs().map_err(|e| {
        format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:8080 or localhost:8080): {e}")
    })?;
    addrs
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// `--key`: a valid minisign one-line public key, checked when parsed.
pub(crate) fn parse_public_key(text: &str) -> Result<String, String> {
    let text = text.trim();
    wb_crypto::PublicKey::from_minisign_base64(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a public key (the RW… line of `wb sync keygen`): {e}"))
}
