//! `liaison`: the operator's command line. Thin: [`cli`] parses flags into validated
//! types, [`commands`] calls the node library (or a running node over its admin
//! socket) and prints. Human-readable output by default, `--json` for scripts.
//!
//! Layout: [`cli`] (flags), [`commands`] (one module per command group), [`output`]
//! (tables, JSON, a closed pipe), [`demo`] (three agencies on this machine), [`bench`](mod@bench)
//! (end-to-end figures).
//!
//! Exit codes: 0 success, 1 failure (a sentence on stderr says why), 2 usage error.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use liaison_node::edge::admin::{BulletinList, BulletinRelease, PolicyExplain, StixExport};
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::policy::Question;

mod bench;
mod cli;
mod commands;
mod demo;
mod output;

use cli::{
    AttachmentCommand, BulletinCommand, Cli, ClientCommand, Command, IdentityCommand, KeyCommand,
    LogCommand, OfficerCommand, PeerCommand, PolicyCommand, Recipient, RosterCommand, StixCommand,
};
use commands::{bulletins, clients, keys, log, node, peers, policy, roster, status};
use liaison_node::ops::roster::RosterSpec;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head`): nothing is wrong.
        Err(err) if err.is::<output::ReaderGone>() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and each of its causes, once.
fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let words = cause.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
    }
    text
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Init {
            dir,
            agency,
            name,
            peer_endpoint,
            api_endpoint,
            json,
        } => node::init(
            &dir.data_dir,
            agency,
            name,
            peer_endpoint,
            api_endpoint,
            json,
        ),
        Command::Identity(IdentityCommand::Show { dir, json }) => {
            node::identity_show(&dir.data_dir, json)
        }
        Command::Identity(IdentityCommand::Export { dir, out, json }) => {
            node::identity_export(&dir.data_dir, &out, json)
        }
        Command::Run { dir } => node::run(&dir.data_dir),
        Command::Peer(command) => peer(command),
        Command::Roster(command) => roster_command(command),
        Command::Stix(StixCommand::Export {
            dir,
            since,
            id,
            out,
        }) => bulletins::stix_export(&dir.data_dir, StixExport { since, id }, out.as_deref()),
        Command::Stix(StixCommand::Import {
            file,
            dir,
            to,
            tlp,
            category,
            dry_run,
            json,
        }) => {
            let bundle =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let import = liaison_node::edge::admin::StixImport {
                bundle_base64: data_encoding::BASE64.encode(&bundle),
                to: recipients(to)?,
                tlp,
                category,
                dry_run,
            };
            bulletins::stix_import(&dir.data_dir, import, json)
        }
        Command::Bulletin(command) => bulletin(command),
        Command::Client(command) => client(command),
        Command::Officer(command) => officer(command),
        Command::Policy(command) => policy_command(command),
        Command::Key(KeyCommand::Rotate { purpose, dir, json }) => {
            keys::rotate(&dir.data_dir, purpose, json)
        }
        Command::Key(KeyCommand::Protect {
            dir,
            pkcs11,
            key_label,
        }) => keys::protect(&dir.data_dir, pkcs11.then_some(key_label)),
        Command::Key(KeyCommand::Revoke {
            key_id,
            reason,
            dir,
            json,
        }) => keys::revoke(&dir.data_dir, key_id, reason, json),
        Command::Log(LogCommand::Verify {
            data_dir,
            export,
            identity,
            since_checkpoint,
            indexes,
            json,
        }) => match (export, identity, data_dir) {
            (Some(export), Some(identity), _) => log::verify_export(&export, &identity, json),
            (_, _, Some(data_dir)) => log::verify(
                &data_dir,
                liaison_store::VerifyOptions {
                    since_checkpoint,
                    indexes,
                },
                json,
            ),
            _ => anyhow::bail!("give --data-dir, or --export with --identity"),
        },
        Command::Log(LogCommand::Reindex { dir }) => log::reindex(&dir.data_dir),
        Command::Log(LogCommand::Compact { dir }) => log::compact(&dir.data_dir),
        Command::Log(LogCommand::Export {
            dir,
            since,
            limit,
            json,
            reads: true,
            ..
        }) => log::export_reads(&dir.data_dir, since, limit, json),
        Command::Log(LogCommand::Export {
            dir,
            since,
            limit,
            json,
            out: Some(out),
            ..
        }) => log::export_evidence(&dir.data_dir, since, limit, &out, json),
        Command::Log(LogCommand::Export {
            dir,
            since,
            limit,
            json,
            out: None,
            ..
        }) => log::export(&dir.data_dir, since, limit, json),
        Command::Status { dir, wide, json } => status::show(&dir.data_dir, wide, json),
        Command::Links {
            dir,
            since,
            entity,
            json,
        } => bulletins::links(&dir.data_dir, since, entity, json),
        Command::Search {
            dir,
            selectors,
            text,
            fuzzy_person,
            by_time,
            since,
            until,
            origin,
            category,
            tlp,
            handling,
            thread,
            oldest_first,
            offset,
            limit,
            json,
        } => {
            let filter = liaison_node::ops::connections::SearchFilter {
                since,
                until,
                origin,
                category,
                tlp,
                handling,
                thread,
            };
            let page = liaison_node::ops::connections::SearchPage {
                offset,
                limit,
                oldest_first,
                by_time,
            };
            let search = liaison_node::edge::admin::Search {
                selectors: selectors.pairs(),
                text,
                fuzzy_person,
                filter,
                page,
            };
            bulletins::search(&dir.data_dir, search, json)
        }
        Command::Query {
            dir,
            selectors,
            partners,
            json,
        } => bulletins::query(&dir.data_dir, selectors.pairs(), &partners, json),
        Command::Completions { shell } => completions(shell),
        Command::Man { out } => man_pages(&out),
        Command::Bench {
            bulletins,
            recipients,
            size,
            rate,
            latency_seconds,
            skip_crypto,
            in_flight,
            processes,
            catch_up,
            log_size,
            partner_down,
            federation,
        } => bench::run(bench::BenchOptions {
            federation: federation.map(|n| n as usize),
            catch_up: catch_up.map(|n| n as usize),
            log_size,
            partner_down: partner_down.map(|n| n as usize),
            bulletins,
            recipients,
            size,
            rate,
            latency_seconds,
            skip_crypto,
            in_flight,
            processes,
        }),
        Command::Demo { dir, desk } => demo::run(dir, desk),
    }
}

fn peer(command: PeerCommand) -> Result<()> {
    match command {
        PeerCommand::Add {
            bundle,
            fingerprint,
            dir,
            json,
        } => peers::add(&dir.data_dir, &bundle, fingerprint, json),
        PeerCommand::List { dir, json } => peers::list(&dir.data_dir, json),
        PeerCommand::Show { agency, dir, json } => peers::show(&dir.data_dir, agency, json),
        PeerCommand::Remove { agency, dir, json } => peers::remove(&dir.data_dir, agency, json),
        PeerCommand::Retry { agency, dir, json } => peers::retry(&dir.data_dir, agency, json),
    }
}

fn bulletin(command: BulletinCommand) -> Result<()> {
    match command {
        BulletinCommand::Send(args) => {
            let args = *args;
            let (data_dir, json) = (args.dir.data_dir.clone(), args.json);
            let to = if args.to.is_empty() {
                None
            } else {
                Some(recipients(args.to.clone())?)
            };
            let request = commands::compose::request(args, to)?;
            bulletins::send(&data_dir, request, json)
        }
        BulletinCommand::List {
            dir,
            direction,
            origins,
            tlps,
            category,
            limit,
            oldest_first,
            handling,
            open_requests,
            json,
        } => {
            if open_requests {
                return bulletins::open_requests(&dir.data_dir, json);
            }
            bulletins::list(
                &dir.data_dir,
                BulletinList {
                    direction,
                    origins,
                    tlps,
                    category,
                    limit: Some(limit as usize),
                    oldest_first,
                    handling,
                },
                json,
            )
        }
        BulletinCommand::Thread { id, dir, json } => bulletins::thread(&dir.data_dir, id, json),
        BulletinCommand::Attachment(AttachmentCommand::Get {
            id,
            number,
            out,
            dir,
        }) => bulletins::attachment(&dir.data_dir, id, number, &out),
        BulletinCommand::Ack {
            id,
            state,
            note,
            dir,
            json,
        } => bulletins::acknowledge(&dir.data_dir, id, state, note, json),
        BulletinCommand::Show { id, dir, json } => bulletins::show(&dir.data_dir, id, json),
        BulletinCommand::Forward { id, to, dir, json } => {
            bulletins::forward(&dir.data_dir, id, to, json)
        }
        BulletinCommand::Recall {
            id,
            reason,
            dir,
            json,
        } => bulletins::recall(&dir.data_dir, id, reason, json),
        BulletinCommand::Release {
            id,
            to,
            holders,
            days,
            dir,
            json,
        } => {
            let holders = (!holders.is_empty()).then_some(holders);
            bulletins::release(
                &dir.data_dir,
                BulletinRelease {
                    id,
                    to,
                    holders,
                    days,
                },
                json,
            )
        }
    }
}

/// `--to auto` alone, or partners.
fn recipients(to: Vec<Recipient>) -> Result<Recipients> {
    match to.as_slice() {
        [Recipient::Auto] => return Ok(Recipients::AllAllowed),
        [Recipient::Group(name)] => return Ok(Recipients::Group(name.clone())),
        _ => {}
    }
    to.into_iter()
        .map(|r| match r {
            Recipient::Agency(agency) => Ok(agency),
            Recipient::Auto => Err(anyhow::anyhow!(
                "--to auto sends to every partner the policy allows; do not combine it with named partners"
            )),
            Recipient::Group(name) => Err(anyhow::anyhow!(
                "--to {name} sends to a policy group; name one group alone, or partners"
            )),
        })
        .collect::<Result<Vec<_>>>()
        .map(Recipients::Named)
}

fn client(command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Issue {
            dir,
            name,
            role,
            out,
            json,
        } => clients::issue(&dir.data_dir, name, role, &out, json),
        ClientCommand::List { dir, json } => clients::list(&dir.data_dir, json),
        ClientCommand::Revoke { name, dir, json } => clients::revoke(&dir.data_dir, name, json),
    }
}

fn officer(command: OfficerCommand) -> Result<()> {
    match command {
        OfficerCommand::Add {
            name,
            dir,
            role,
            json,
        } => clients::officer_add(&dir.data_dir, name, role, json),
        OfficerCommand::List { dir, json } => clients::officer_list(&dir.data_dir, json),
        OfficerCommand::Remove { name, dir, json } => {
            clients::officer_remove(&dir.data_dir, name, json)
        }
        OfficerCommand::Certificate {
            name,
            out,
            dir,
            json,
        } => clients::officer_certificate(&dir.data_dir, name, &out, json),
    }
}

fn roster_command(command: RosterCommand) -> Result<()> {
    match command {
        RosterCommand::Create {
            operation,
            coordinator,
            roster_version,
            valid_days,
            out,
            bundles,
            json,
        } => {
            let spec = RosterSpec {
                operation,
                coordinator,
                version: roster_version,
                valid_days,
            };
            roster::create(spec, &bundles, &out, json)
        }
        RosterCommand::Sign {
            draft,
            out,
            dir,
            json,
        } => roster::sign(&dir.data_dir, &draft, &out, json),
        RosterCommand::Show { file, json } => roster::show(&file, json),
        RosterCommand::Import {
            file,
            fingerprint,
            dir,
            json,
        } => roster::import(&dir.data_dir, &file, fingerprint, json),
        RosterCommand::List { dir, json } => roster::list(&dir.data_dir, json),
    }
}

fn policy_command(command: PolicyCommand) -> Result<()> {
    match command {
        PolicyCommand::Show { partner, dir, json } => {
            policy::show(&dir.data_dir, partner.as_ref(), json)
        }
        PolicyCommand::Check {
            file,
            data_dir,
            json,
        } => policy::check(&file, data_dir.as_deref(), json),
        PolicyCommand::Explain {
            dir,
            to,
            from,
            origin,
            category,
            tlp,
            handling,
            json,
        } => {
            let question = match (to, from) {
                (Some(partner), _) => Question::To { partner, origin },
                (None, Some(partner)) => Question::From { partner, origin },
                (None, None) => anyhow::bail!("name the partner with --to or --from"),
            };
            let explain = PolicyExplain {
                question,
                category,
                tlp,
                handling,
            };
            policy::explain(&dir.data_dir, explain, json)
        }
        PolicyCommand::Reload { dir, json } => policy::reload(&dir.data_dir, json),
    }
}

/// Writes `liaison.1` and a page for every subcommand, nested ones included
/// (`liaison-peer-add.1`), generated from the same definitions as `--help`.
fn man_pages(out: &std::path::Path) -> Result<()> {
    use clap::CommandFactory as _;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = 0;
    let mut pending = vec![("liaison".to_owned(), Cli::command())];
    while let Some((name, command)) = pending.pop() {
        let command = command
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        let path = out.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone())
            .render(&mut page)
            .with_context(|| format!("cannot render the page of {name}"))?;
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            pending.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
    }
    output::line(format_args!(
        "Wrote {written} man pages to {}",
        out.display()
    ))
}

fn completions(shell: clap_complete::Shell) -> Result<()> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "liaison", &mut script);
    output::line(format_args!(
        "{}",
        String::from_utf8_lossy(&script).trim_end()
    ))
}
