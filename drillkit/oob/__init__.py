"""The out-of-band path: the OOB jail and SSH over the management network."""

from .jail import ProcessOutcome, jail_env, run_in_jail, ssh_argv

__all__ = ["ProcessOutcome", "jail_env", "run_in_jail", "ssh_argv"]
