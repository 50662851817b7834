"""Microsoft Entra ID (Azure AD) through Microsoft Graph v1.0: USER_INFO, USER_MANAGER and USER_GROUPS
(transitive), merging with the on-premises directory's answers (the ldap provider).

A user is found with one ``GET /v1.0/users?$filter=…&$select=…``: an ``@`` form by
``userPrincipalName eq 'v' or mail eq 'v'``, a bare account by ``onPremisesSamAccountName eq 'v'`` (an advanced
query: ``ConsistencyLevel: eventual`` and ``$count=true``). The value is an OData string literal (``'`` doubled;
control characters refused), so no input changes a filter. Only the fields needed are ``$select``ed. Then
``/users/{id}/manager`` or ``/users/{id}/transitiveMemberOf/microsoft.graph.group`` (every page, following
``@odata.nextLink``, up to ``max_pages``).

OAuth2 client credentials against ``{authority_url}/{tenant_id}/oauth2/v2.0/token`` (scope
``{graph_url}/.default``): the token is cached per instance, fetched again ``refresh_margin_s`` before it
expires and once more when Graph answers 401; one token request at a time. Throttling (429, or 503, with
``Retry-After``) is ``rate_limited`` with that delay (positron/http.py).

Account names: ``onPremisesSamAccountName`` when the user is synced from AD (so answers merge with the ldap
provider's), else the UPN (its local part if its domain is in ``strip_domains``). The directory is authoritative
and live: confidence 1, split when a value matches several users; observed_at is the time of the call.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from positron.providers._assets import Domains, text, username
from positron.queries import USER_GROUPS, USER_INFO, USER_MANAGER, Person, UserInfo
from pydantic import Field

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpResponse,
    HttpSource,
    Lookup,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    Secret,
    UnsupportedInput,
    answers,
    raise_for_status,
)

USER_FIELDS = (
    "id,userPrincipalName,onPremisesSamAccountName,displayName,mail,jobTitle,department,companyName,"
    "officeLocation,city,businessPhones,mobilePhone,accountEnabled"
)
PERSON_FIELDS = "id,userPrincipalName,onPremisesSamAccountName,displayName,mail,jobTitle"
GROUPS = "/transitiveMemberOf/microsoft.graph.group"
ACCEPT = {"Accept": "application/json"}
PORTAL = "https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/"
User = dict[str, Any]


def odata_string(value: str) -> str:
    """``value`` as one OData string literal: quotes doubled; control characters refused."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnsupportedInput("the value holds a control character, which an OData filter cannot hold")
    return "'" + value.replace("'", "''") + "'"


class EntraIdConfig(ProviderConfig):
    tenant_id: str = Field(pattern=r"^[A-Za-z0-9.-]{1,100}$", description="Directory (tenant) id or domain")
    client_id: str = Field(
        min_length=1, description="Application (client) id, granted User.Read.All and GroupMember.Read.All"
    )
    client_secret: Secret = Field(description="A client secret of the application")
    authority_url: BaseUrl = Field(default="https://login.microsoftonline.com", description="National clouds differ")
    graph_url: BaseUrl = Field(default="https://graph.microsoft.com", description="The Graph root, without /v1.0")
    max_pages: int = Field(default=10, ge=1, le=100, description="Pages of groups (999 each) read at most")
    refresh_margin_s: float = Field(default=300.0, ge=0, description="Fetch a new token this long before expiry")
    strip_domains: Domains = Field(default_factory=list, description="UPN domains whose users become accounts")


class EntraId(HttpProvider[EntraIdConfig]):
    """``self.http`` is Graph; ``self._login`` the identity platform's token endpoint."""

    type_name: ClassVar[str] = "entra_id"
    Config: ClassVar[type[ProviderConfig]] = EntraIdConfig

    def __init__(self, name: str, config: EntraIdConfig) -> None:
        super().__init__(name, config)
        self._login = self._source(config.authority_url)
        self._token: str | None = None
        self._expires = 0.0
        self._token_lock = asyncio.Lock()
        self.token_requests = 0

    def http_source(self) -> HttpSource:
        return self._source(self.config.graph_url)

    def _source(self, url: str) -> HttpSource:
        return HttpSource(
            url, headers=ACCEPT, timeout_s=self.config.timeout_s, max_connections=self.config.max_concurrency
        )

    async def open(self) -> None:
        await super().open()
        await self._login.open()

    async def aclose(self) -> None:
        await super().aclose()
        await self._login.aclose()
        self._token = None

    async def health(self) -> Health:
        try:
            await self._get("/v1.0/organization", {"$select": "id,displayName"})
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail=f"Graph at {self.http.label}: token and directory read ok")

    # --- handlers ---

    @answers(USER_INFO)
    async def user_info(self, lookup: Lookup) -> list[Answer[UserInfo]]:
        users = await self._users(lookup.value, USER_FIELDS)
        return [self._answer(self._user_info(u, lookup.value), len(users), u) for u in users]

    @answers(USER_MANAGER)
    async def user_manager(self, lookup: Lookup) -> list[Answer[Person]]:
        users = await self._users(lookup.value, "id")
        found = []
        for user in users:
            response = await self._call(f"/v1.0/users/{_id(user)}/manager", {"$select": PERSON_FIELDS})
            if response.status == 404:
                continue  # no manager
            raise_for_status(response, response.error_code or "")
            manager = _object(response)
            name = self._account(manager)
            if name is not None:
                person = Person(
                    username=name,
                    display_name=text(manager.get("displayName")),
                    email=text(manager.get("mail")),
                    title=text(manager.get("jobTitle")),
                )
                found.append(self._answer(person, len(users), manager))
        return found

    @answers(USER_GROUPS)
    async def user_groups(self, lookup: Lookup) -> list[Answer[list[str]]]:
        users = await self._users(lookup.value, "id")
        found = []
        for user in users:
            params = {"$select": "id,displayName", "$top": "999"}
            groups = await self._pages(f"/v1.0/users/{_id(user)}{GROUPS}", params)
            names = {n.casefold(): n for g in groups if (n := text(g.get("displayName")))}
            found.append(self._answer(sorted(names.values(), key=str.casefold), len(users), user))
        return found

    # --- Graph ---

    async def _users(self, account: str, fields: str) -> list[User]:
        literal = odata_string(account)
        params = {"$select": fields, "$top": "5"}
        headers: dict[str, str] = {}
        if "@" in account:
            params["$filter"] = f"userPrincipalName eq {literal} or mail eq {literal}"
        else:  # an advanced query: Graph refuses it without ConsistencyLevel and $count
            params |= {"$filter": f"onPremisesSamAccountName eq {literal}", "$count": "true"}
            headers["ConsistencyLevel"] = "eventual"
        body = await self._get("/v1.0/users", params, headers)
        return _values(body, self.http.label)

    async def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        body = await self._get(path, params)
        for page in range(1, self.config.max_pages + 1):
            items += _values(body, self.http.label)
            link = body.get("@odata.nextLink")
            if not isinstance(link, str) or page == self.config.max_pages:
                return items
            if not link.startswith(self.config.graph_url + "/"):
                raise BadResponse(f"{self.http.label}: a nextLink outside {self.http.label}")
            body = await self._get(link, None)
        return items

    async def _get(self, path: str, params: dict[str, str] | None, headers: dict[str, str] | None = None) -> Any:
        response = await self._call(path, params, headers)
        raise_for_status(response, response.error_code or "")
        return response.json()

    async def _call(
        self, path: str, params: dict[str, str] | None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """One authorized GET; a 401 fetches a new token and tries once more."""
        for attempt in (1, 2):
            token = await self._bearer(force=attempt == 2)
            auth = {**(headers or {}), "Authorization": f"Bearer {token}"}
            response = await self.http.get(path, params=params, headers=auth)
            if response.status != 401:
                break
        return response

    async def _bearer(self, force: bool = False) -> str:
        async with self._token_lock:
            if force or self._token is None or time.monotonic() >= self._expires:
                self._token, lifetime = await self._fetch_token()
                self._expires = time.monotonic() + max(lifetime / 2, lifetime - self.config.refresh_margin_s)
            return self._token

    async def _fetch_token(self) -> tuple[str, float]:
        self.token_requests += 1
        form = {
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.get_secret_value(),
            "scope": f"{self.config.graph_url}/.default",
            "grant_type": "client_credentials",
        }
        path = f"/{quote(self.config.tenant_id, safe='')}/oauth2/v2.0/token"
        response = await self._login.request("POST", path, data=form)
        if response.status in (400, 401, 403):
            code = _token_error(response)
            where = f"{self._login.label}: HTTP {response.status} {code}".rstrip()
            raise ProviderAuthError(f"{where}: the client credentials were refused")
        raise_for_status(response)
        body = response.json()
        body = body if isinstance(body, dict) else {}
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise BadResponse(f"{self._login.label}: the token response has no access_token and expires_in")
        return token, float(lifetime)

    # --- answers ---

    def _account(self, user: User) -> str | None:
        sam = username(user.get("onPremisesSamAccountName"), [])
        return sam or username(user.get("userPrincipalName"), self.config.strip_domains)

    def _user_info(self, user: User, asked: str) -> UserInfo:
        phones = user.get("businessPhones")
        phone = next((text(p) for p in phones if text(p)), None) if isinstance(phones, list) else None
        enabled = user.get("accountEnabled")
        return UserInfo(
            username=self._account(user) or asked,
            display_name=text(user.get("displayName")),
            email=text(user.get("mail")),
            title=text(user.get("jobTitle")),
            department=text(user.get("department")),
            company=text(user.get("companyName")),
            location=text(user.get("officeLocation")) or text(user.get("city")),
            phone=phone or text(user.get("mobilePhone")),
            enabled=enabled if isinstance(enabled, bool) else None,
        )

    def _answer(self, value: Any, matches: int, user: User) -> Answer[Any]:
        ref = PORTAL + _id(user)
        return Answer(value, confidence=1 / max(1, matches), observed_at=datetime.now(UTC), source_ref=ref)


def _id(user: User) -> str:
    value = user.get("id")
    if not isinstance(value, str) or not value or not all(c.isalnum() or c == "-" for c in value):
        raise BadResponse("Graph sent a directory object without a valid id")
    return value


def _values(body: Any, label: str) -> list[dict[str, Any]]:
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list):
        raise BadResponse(f"{label}: a collection without a 'value' list")
    return [v for v in values if isinstance(v, dict)]


def _object(response: HttpResponse) -> User:
    body = response.json()
    if not isinstance(body, dict):
        raise BadResponse(f"{response.label}: a directory object that is not a JSON object")
    return body


def _token_error(response: HttpResponse) -> str:
    """The token endpoint's ``error`` (invalid_client, unauthorized_client…); never its description."""
    try:
        error = response.json().get("error")
    except (BadResponse, AttributeError):
        return ""
    return error if isinstance(error, str) and error.replace("_", "").isalnum() and len(error) < 64 else ""
