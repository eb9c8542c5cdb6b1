//! [`Script`]: a Lua script run by its SHA1, loaded on demand.

use redis_commands::{Cmd, Commands, FromReply, PipelineCommands, ToArgs, build};
use redis_conn::ServerErrorKind;

use crate::error::ExtError;

/// A Lua script, run with EVALSHA by its SHA1 (computed locally), and sent in full when the
/// server does not have it (redis-py's `register_script`).
///
/// On a client or connection, [`Script::invoke`] sends EVALSHA; on `NOSCRIPT` it sends the
/// script's source with EVAL (EVAL_RO for [`Script::invoke_ro`]), once: one command that
/// loads and runs the script on whichever server it reaches, so the recovery works on a
/// pool whose connections go to several servers (a Sentinel replica pool), where a separate
/// SCRIPT LOAD could land on another server than the next EVALSHA. The script runs exactly
/// once per call (EVALSHA answering `NOSCRIPT` ran nothing), and EVAL leaves it in the
/// server's script cache for the next EVALSHA. In a pipeline or transaction,
/// [`Script::queue`] asks the pipeline to load the script before it runs, so the batch is
/// never re-run (a transaction whose EVALSHA fails after SCRIPT FLUSH would half-apply).
///
/// A script that runs too long makes the server answer others with `BUSY`, which is its own
/// error kind (`ServerErrorKind::Busy`); SCRIPT KILL stops a script that has not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    code: String,
    sha: String,
}

/// A pipeline that can run a command before its batch (the `redis-client` `Pipeline`).
pub trait ScriptPipeline: PipelineCommands {
    /// Runs `cmd` on the pipeline's connection before the batch (identical commands once).
    fn run_first(&mut self, cmd: Cmd) -> &mut Self;
}

impl Script {
    /// A script from its Lua source.
    pub fn new(code: impl Into<String>) -> Script {
        let code = code.into();
        let sha = sha1_smol::Sha1::from(code.as_bytes()).digest().to_string();
        Script { code, sha }
    }

    /// The SHA1 the server knows the script by (lower-case hex).
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// The Lua source.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Runs the script with EVALSHA, or with EVAL and its source if the server does not
    /// have it (`NOSCRIPT`).
    pub fn invoke<T: FromReply, C: Commands + ?Sized>(
        &self,
        client: &C,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Result<T, C::Error>
    where
        C::Error: ExtError,
    {
        self.run(client, &build::evalsha(&self.sha, keys, args), "EVAL")
    }

    /// Runs the script with EVALSHA_RO (read-only; allowed on replicas), or with EVAL_RO and
    /// its source if the server does not have it (`NOSCRIPT`).
    pub fn invoke_ro<T: FromReply, C: Commands + ?Sized>(
        &self,
        client: &C,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> Result<T, C::Error>
    where
        C::Error: ExtError,
    {
        self.run(client, &build::evalsha_ro(&self.sha, keys, args), "EVAL_RO")
    }

    /// Runs `evalsha`; on `NOSCRIPT`, the same call as `eval` (EVAL or EVAL_RO) with the
    /// source: one command, so it cannot land on another server than the one that loads it.
    fn run<T: FromReply, C: Commands + ?Sized>(
        &self,
        client: &C,
        evalsha: &Cmd,
        eval: &str,
    ) -> Result<T, C::Error>
    where
        C::Error: ExtError,
    {
        match client.query_cmd(evalsha) {
            Err(e) if e.server_error_kind() == Some(ServerErrorKind::NoScript) => {
                client.query_cmd(&self.with_source(evalsha, eval))
            }
            result => result,
        }
    }

    /// `evalsha` (`EVALSHA sha numkeys key... arg...`) as `name source numkeys key... arg...`.
    fn with_source(&self, evalsha: &Cmd, name: &str) -> Cmd {
        let mut cmd = Cmd::new();
        cmd.arg(name).arg(self.code.as_str());
        for arg in evalsha.arg_bytes().skip(2) {
            cmd.arg(arg);
        }
        cmd
    }

    /// Loads the script into the server's cache (SCRIPT LOAD).
    pub fn load<C: Commands + ?Sized>(&self, client: &C) -> Result<(), C::Error> {
        let sha: String = client.script_load(&self.code)?;
        debug_assert_eq!(
            sha, self.sha,
            "the server hashes scripts as SHA1 of the source"
        );
        Ok(())
    }

    /// Queues an EVALSHA of the script in a pipeline or transaction, and asks the pipeline to
    /// load the script (SCRIPT LOAD) on its connection before the batch runs.
    pub fn queue<'p, P: ScriptPipeline>(
        &self,
        pipeline: &'p mut P,
        keys: impl ToArgs,
        args: impl ToArgs,
    ) -> &'p mut P {
        pipeline.run_first(build::script_load(&self.code));
        pipeline.queue_cmd(build::evalsha(&self.sha, keys, args))
    }
}

#[cfg(test)]
mod tests {
    use redis_commands::build;

    use super::Script;

    #[test]
    fn the_fallback_is_the_same_call_with_the_source() {
        let script = Script::new("return {KEYS[1], ARGV[1]}");
        let evalsha = build::evalsha(script.sha(), ["k1", "k2"], ["a", "b"]);
        let eval = script.with_source(&evalsha, "EVAL");
        assert_eq!(
            eval.packed_args(),
            build::eval(script.code(), ["k1", "k2"], ["a", "b"]).packed_args()
        );
        let evalsha_ro = build::evalsha_ro(script.sha(), ["k"], [] as [&str; 0]);
        let eval_ro = script.with_source(&evalsha_ro, "EVAL_RO");
        assert_eq!(
            eval_ro.packed_args(),
            build::eval_ro(script.code(), ["k"], [] as [&str; 0]).packed_args()
        );
    }

    #[test]
    fn the_sha_is_the_sha1_of_the_source() {
        // `redis-cli SCRIPT LOAD "return 1"` answers this.
        assert_eq!(
            Script::new("return 1").sha(),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
