"""Top-navigation links that view modules contribute (``NAV = [NavLink(...)]`` in the module)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavLink:
    """A link shown to users whose role is in ``roles`` (admins see every link); lower ``order`` first."""

    label: str
    href: str
    roles: tuple[str, ...] = ("admin", "lead", "coder")
    order: int = 50
    #: Shown only to the key holder (whatever their role): pages that re-identify.
    key_holder_only: bool = False

    def visible_to(self, role: str, is_key_holder: bool = False) -> bool:
        if self.key_holder_only:
            return is_key_holder
        return role == "admin" or role in self.roles
