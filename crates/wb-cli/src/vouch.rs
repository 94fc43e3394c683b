//! `wb sync vouch`: the interactive (or piped) vouching dialogue.
//!
//! Questions go to stderr and answers come from stdin, one line each, so the
//! same code serves a terminal and a script; the summary goes to stdout.

use std::io::{BufRead, Write};

use anyhow::{Result, bail};
use wb_crypto::KeyStore;
use wb_engine::Instance;

/// An answer to a y/n question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

/// Reads y/yes/n/no (any case, surrounding spaces ignored); anything else is
/// `None`, and the question is asked again.
pub fn parse_answer(line: &str) -> Option<Answer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(Answer::Yes),
        "n" | "no" => Some(Answer::No),
        _ => None,
    }
}

/// One line of input, or `None` at end of input.
fn read_line(input: &mut dyn BufRead) -> Result<Option<String>> {
    let mut line = String::new();
    Ok((input.read_line(&mut line)? > 0).then_some(line))
}

/// Asks `question` until the answer parses; `None` when input ends.
fn ask(input: &mut dyn BufRead, prompt: &mut dyn Write, question: &str) -> Result<Option<Answer>> {
    loop {
        write!(prompt, "{question} [y/n] ")?;
        prompt.flush()?;
        let Some(line) = read_line(input)? else {
            writeln!(prompt)?;
            return Ok(None);
        };
        if let Some(answer) = parse_answer(&line) {
            return Ok(Some(answer));
        }
        writeln!(prompt, "please answer y, yes, n or no")?;
    }
}

pub async fn run(
    instance: &Instance,
    keys: &KeyStore,
    actor: Option<String>,
    input: &mut dyn BufRead,
    prompt: &mut dyn Write,
) -> Result<()> {
    let actor = match actor {
        Some(actor) => actor,
        None => {
            write!(prompt, "your username: ")?;
            prompt.flush()?;
            match read_line(input)? {
                Some(line) if !line.trim().is_empty() => line.trim().to_owned(),
                _ => bail!("no username given; pass --as USER or type it at the prompt"),
            }
        }
    };
    let candidates = instance.vouch_candidates(&actor).await?;
    if candidates.is_empty() {
        println!("nobody left to vouch for: @{actor} has vouched for every root user");
        return Ok(());
    }
    writeln!(
        prompt,
        "{} root user(s) @{actor} has not vouched for yet:",
        candidates.len()
    )?;
    let (mut made, mut skipped) = (0, 0);
    for user in &candidates {
        // Display names may come from other instances.
        let question = wb_model::text::escape_control(&format!(
            "vouch for @{} ({}, {})?",
            user.username, user.display_name, user.origin
        ))
        .into_owned();
        match ask(input, prompt, &question)? {
            Some(Answer::Yes) => {
                let vouch = instance.add_vouch(keys, &actor, user.id).await?;
                println!(
                    "vouched for @{} ({}): vouch {}",
                    user.username, user.origin, vouch.id
                );
                made += 1;
            }
            Some(Answer::No) => skipped += 1,
            None => {
                writeln!(prompt, "no more answers; stopping")?;
                break;
            }
        }
    }
    let unasked = candidates.len() - made - skipped;
    println!("{made} vouch(es) made, {skipped} declined, {unasked} not asked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_y_yes_n_no_in_any_case() {
        for (line, expected) in [
            ("y\n", Some(Answer::Yes)),
            ("YES\n", Some(Answer::Yes)),
            ("  yes  ", Some(Answer::Yes)),
            ("n", Some(Answer::No)),
            ("No\n", Some(Answer::No)),
            ("", None),
            ("maybe\n", None),
            ("ye\n", None),
            ("yess", None),
        ] {
            assert_eq!(parse_answer(line), expected, "{line:?}");
        }
    }

    #[test]
    fn questions_are_asked_again_until_answered() {
        let mut input: &[u8] = b"perhaps\n\nY\n";
        let mut prompt = Vec::new();
        let answer = ask(&mut input, &mut prompt, "vouch?").unwrap_or_default();
        assert_eq!(answer, Some(Answer::Yes));
        let shown = String::from_utf8_lossy(&prompt);
        assert_eq!(shown.matches("vouch? [y/n]").count(), 3, "{shown}");
        assert_eq!(shown.matches("please answer").count(), 2, "{shown}");
        let mut empty: &[u8] = b"";
        assert_eq!(
            ask(&mut empty, &mut Vec::new(), "q").unwrap_or_default(),
            None
        );
    }
}
