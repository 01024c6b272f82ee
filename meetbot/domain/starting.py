"""Who may start a meeting in a room: a room's StartRule against the sender's standing and
services account. Pure; the service asks before opening a meeting."""

from __future__ import annotations

from meetbot.events import Standing, StartPolicy, StartRule

_RANK = {Standing.NONE: 0, Standing.VOICED: 1, Standing.OPERATOR: 2}
_NEEDS = {StartPolicy.ANYONE: 0, StartPolicy.VOICED: 1, StartPolicy.OPS: 2}


def may_start(rule: StartRule | None, standing: Standing, account: str | None) -> bool:
    """By channel standing or by a listed account; a nick alone never qualifies."""
    if rule is None or rule.policy is StartPolicy.ANYONE:
        return True
    # Services account names compare case-insensitively (Atheme, Anope and Libera alike).
    if account is not None and account.casefold() in {name.casefold() for name in rule.accounts}:
        return True
    needed = _NEEDS.get(rule.policy)
    return needed is not None and _RANK[standing] >= needed


def who_may_start(rule: StartRule) -> str:
    """`voiced people and channel operators` / `... and the accounts alice, bob`, for a refusal."""
    who = {
        StartPolicy.ANYONE: "anyone",
        StartPolicy.VOICED: "voiced people and channel operators",
        StartPolicy.OPS: "channel operators",
        StartPolicy.ACCOUNTS: "",
    }[rule.policy]
    if rule.accounts:
        listed = ", ".join(sorted(rule.accounts, key=str.casefold))
        accounts = f"the account{'s' if len(rule.accounts) > 1 else ''} {listed}"
        who = f"{who} and {accounts}" if who else accounts
    return who or "nobody (no accounts are listed)"


def refusal(nick: str, rule: StartRule) -> str:
    return f"{nick}: only {who_may_start(rule)} may start a meeting here."
