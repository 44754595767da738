//! Talking to the admin: confirmations before each destructive group, process deselection, progress while
//! waiting. Three implementations: the TTY one (dialoguer, indicatif), `--yes` (plain lines), and a scripted one
//! tests drive.

use crate::model::plan::Step;
use std::collections::VecDeque;

pub trait Prompter {
    /// Ask before a destructive group; `details` are shown as a list under the question.
    fn confirm(&mut self, question: &str, details: &[String]) -> bool;
    /// Which of `items` to act on (all preselected); one bool per item.
    fn choose(&mut self, question: &str, items: &[String]) -> Vec<bool>;
    /// A step starts (a spinner on a TTY).
    fn started(&mut self, step: &Step);
    /// A step ended.
    fn finished(&mut self, step: &Step, ok: bool, detail: &str);
    /// Anything else worth a line (restore progress, test hook).
    fn note(&mut self, message: &str);
}

/// `--yes`: every question answered yes, progress as plain lines on stderr.
#[derive(Debug, Default)]
pub struct AutoYes {
    pub quiet: bool,
}

impl Prompter for AutoYes {
    fn confirm(&mut self, _question: &str, _details: &[String]) -> bool {
        true
    }
    fn choose(&mut self, _question: &str, items: &[String]) -> Vec<bool> {
        vec![true; items.len()]
    }
    fn started(&mut self, step: &Step) {
        if !self.quiet {
            eprintln!("[{}] {} …", step.id, step.kind.describe());
        }
    }
    fn finished(&mut self, step: &Step, ok: bool, detail: &str) {
        if !self.quiet {
            eprintln!(
                "[{}] {}: {detail}",
                step.id,
                if ok { "done" } else { "FAILED" }
            );
        }
    }
    fn note(&mut self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

/// On a terminal: dialoguer questions, an indicatif spinner per step.
#[derive(Default)]
pub struct ConsoleUi {
    spinner: Option<indicatif::ProgressBar>,
}

impl Prompter for ConsoleUi {
    fn confirm(&mut self, question: &str, details: &[String]) -> bool {
        self.stop_spinner();
        for d in details {
            eprintln!("  - {d}");
        }
        dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()
            .unwrap_or(false)
    }
    fn choose(&mut self, question: &str, items: &[String]) -> Vec<bool> {
        self.stop_spinner();
        let defaults = vec![true; items.len()];
        match dialoguer::MultiSelect::new()
            .with_prompt(format!("{question} (space toggles, enter accepts)"))
            .items(items)
            .defaults(&defaults)
            .interact()
        {
            Ok(chosen) => (0..items.len()).map(|i| chosen.contains(&i)).collect(),
            // No answer (Ctrl-C, no terminal): act on nothing.
            Err(_) => vec![false; items.len()],
        }
    }
    fn started(&mut self, step: &Step) {
        self.stop_spinner();
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("[{}] {}", step.id, step.kind.describe()));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        self.spinner = Some(bar);
    }
    fn finished(&mut self, step: &Step, ok: bool, detail: &str) {
        let line = format!(
            "[{}] {} {}: {detail}",
            step.id,
            if ok { "✓" } else { "✗" },
            step.kind.describe()
        );
        match self.spinner.take() {
            Some(bar) => bar.finish_with_message(line),
            None => eprintln!("{line}"),
        }
    }
    fn note(&mut self, message: &str) {
        match &self.spinner {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}

impl ConsoleUi {
    fn stop_spinner(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

/// A scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// For a `choose`: which items stay selected.
    Select(Vec<bool>),
}

/// Answers from a script, records every question and event (tests).
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    pub answers: VecDeque<Answer>,
    pub asked: Vec<String>,
    pub events: Vec<String>,
}

impl ScriptedPrompter {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        ScriptedPrompter {
            answers: answers.into_iter().collect(),
            ..Default::default()
        }
    }
}

impl Prompter for ScriptedPrompter {
    fn confirm(&mut self, question: &str, _details: &[String]) -> bool {
        self.asked.push(question.to_string());
        // An unscripted question is answered no: a test never agrees to something it did not expect.
        matches!(self.answers.pop_front(), Some(Answer::Yes))
    }
    fn choose(&mut self, question: &str, items: &[String]) -> Vec<bool> {
        self.asked.push(question.to_string());
        match self.answers.pop_front() {
            Some(Answer::Select(v)) if v.len() == items.len() => v,
            Some(Answer::Yes) => vec![true; items.len()],
            _ => vec![false; items.len()],
        }
    }
    fn started(&mut self, step: &Step) {
        self.events
            .push(format!("start {} {}", step.id, step.kind.name()));
    }
    fn finished(&mut self, step: &Step, ok: bool, detail: &str) {
        self.events.push(format!(
            "{} {} {}: {detail}",
            if ok { "ok" } else { "failed" },
            step.id,
            step.kind.name()
        ));
    }
    fn note(&mut self, message: &str) {
        self.events.push(format!("note {message}"));
    }
}
