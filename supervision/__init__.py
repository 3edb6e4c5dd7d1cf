"""The runtime: hosts, mailboxes, supervisors, and (later) node assembly and I/O."""
