import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultVB365
import CertVaultVault
import Foundation
public import Hummingbird
import Logging

/// The signed-in operator of one request: the session and the grant its token has right now.
struct AdminCaller: Sendable {
    let session: AdminSessions.Session
    let grant: AccessGrant
    /// The form token of this session (``CSRF`` bound to `session:HANDLE`).
    let csrf: String
}

/// The operator dashboard (`/admin`): HTML pages for people, signed in with an API token that is
/// exchanged for a session cookie (``AdminSessions``).
///
/// Authorization is the API's: every page and action names the scope of the API route that does
/// the same (``AdminController/scopes``), the session's token is resolved to its grant through
/// ``AppServices/tokens`` on every request, a tenant outside the grant answers exactly as one that
/// does not exist (404), and lists are filtered by the grant where they are read (``TenantReader``).
/// A grant without the scope gets the 403 page `#forbidden`. Every form carries the session's
/// synchronizer token (`csrf`); a POST without the right one gets 403 `#csrf-refused`. Every
/// action (sign-in, failed sign-in, sign-out, rotation, invitation) is written to the audit log.
public struct AdminController: Sendable {
    typealias Context = CertVaultRequestContext

    let services: AppServices
    let sessions: AdminSessions
    let throttle: LoginThrottle
    let pages: AdminPages
    /// The portal's form tokens (a MAC under a key the vault derives), bound to the session here.
    let csrf: CSRFProvider

    /// The login form's double-submit cookie (the form has no session yet).
    static let loginCookieName = "certvault_login"
    static let loginCookieSeconds = 900
    /// The one message of every failed sign-in: it does not say whether the token was malformed,
    /// unknown, expired or revoked.
    static let loginFailed = "Sign-in failed: that token is not valid. Check that you pasted the whole token (cvt_...), "
        + "or ask for a new one."

    /// The scope each page or action needs: the scope of the API route that does the same.
    enum Action: String, CaseIterable, Sendable {
        case tenants, rotate, audit, invitations

        /// The API's operation whose scope applies.
        var apiOperation: String {
            switch self {
            case .tenants: "listTenants"
            case .rotate: "startRotation"
            case .audit: "listAudit"
            case .invitations: "createInvitation"
            }
        }

        var scope: Scope {
            switch self {
            case .tenants: .tenantsRead
            case .rotate: .certificatesRotate
            case .audit: .auditRead
            case .invitations: .onboardingWrite
            }
        }
    }

    /// Makes the dashboard for `services`; sessions live `[portal] session_minutes`.
    public init(services: AppServices) {
        self.services = services
        self.sessions = AdminSessions(lifetimeSeconds: Int64(services.configuration.portal.sessionMinutes) * 60)
        self.throttle = LoginThrottle()
        self.pages = AdminPages()
        self.csrf = CSRFProvider(vault: services.vault)
    }

    /// Adds the dashboard's routes (no bearer token: they authenticate by the session cookie).
    public func addRoutes(to router: Router<CertVaultRequestContext>) {
        router.get("/admin/assets/admin.css") { _, _ in AdminPages.asset(PackageResources.admin_css, contentType: "text/css; charset=utf-8") }
        router.get("/admin/assets/admin.js") { _, _ in
            AdminPages.asset(PackageResources.admin_js, contentType: "text/javascript; charset=utf-8")
        }
        router.get("/admin/login") { request, context in await self.loginPage(request, context) }
        router.post("/admin/login") { request, context in await self.login(request, context) }
        router.post("/admin/logout") { request, context in
            await self.signedIn(request, context, action: nil, post: true) { caller, _ in try await self.logout(caller) }
        }
        router.get("/admin") { request, context in
            await self.signedIn(request, context, action: .tenants, post: false) { caller, _ in
                try await self.tenantsPage(request, caller: caller)
            }
        }
        router.post("/admin/tenants/{tenant}/rotate") { request, context in
            await self.signedIn(request, context, action: .rotate, post: true) { caller, _ in
                try await self.rotate(try context.parameters.require("tenant"), caller: caller)
            }
        }
        router.get("/admin/audit") { request, context in
            await self.signedIn(request, context, action: .audit, post: false) { caller, _ in try await self.auditPage(caller) }
        }
        addInvitationRoutes(to: router)
    }

    var now: Int64 { services.clock() }

    // MARK: Sign-in

    /// `GET /admin/login`: the form, with a fresh double-submit value in a cookie and the form.
    func loginPage(_ request: Request, _ context: Context) async -> Response {
        if let cookie = request.cookies[AdminSessions.cookieName]?.value, sessions.session(cookie: cookie, now: now) != nil {
            return AdminPages.redirect("/admin")
        }
        let notice: String? =
            switch request.uri.queryParameters["ended"].map(String.init) {
            case "expired": "Your session has ended. Sign in again."
            case "token": "Your session has ended: its token is no longer valid (revoked, expired or changed)."
            case "logout": "You have signed out."
            default: nil
            }
        do {
            return try await loginForm(error: nil, notice: notice, status: .ok)
        } catch {
            return errorPage(for: error, caller: nil, logger: context.logger)
        }
    }

    /// The sign-in form. It has no session yet, so its form token is bound to a random value that
    /// is also put into a short-lived cookie (`certvault_login`): a page of another site can
    /// neither read the token nor set the cookie.
    func loginForm(error: String?, notice: String?, status: HTTPResponse.Status, headers: HTTPFields = [:]) async throws -> Response {
        let value = Base64URL.encode(AdminSessions.randomBytes(32))
        let token = try await csrf.checker().token(binding: Self.loginBinding(value))
        let values: [String: Any?] = [
            "csrf": token, "error": error, "notice": notice, "sessionMinutes": services.configuration.portal.sessionMinutes,
        ]
        let page = pages.render(
            "admin_login", values.compactMapValues { $0 },
            frame: .init(title: "Sign in", page: "login", provider: provider, caller: nil))
        return AdminPages.html(
            page, status: status,
            cookies: [Self.cookie(Self.loginCookieName, value, maxAge: Self.loginCookieSeconds, path: "/admin/login")],
            headers: headers)
    }

    /// `POST /admin/login`: token (form field, never in a URL) -> session cookie -> 303 to /admin.
    func login(_ request: Request, _ context: Context) async -> Response {
        let address = Self.address(context)
        let now = self.now
        do {
            if let wait = throttle.retryAfter(address, now: now) {
                var headers = HTTPFields()
                headers[.retryAfter] = String(wait)
                return try await loginForm(
                    error: "Too many failed sign-ins from your address. Try again in \(Self.minutes(wait)).", notice: nil,
                    status: .tooManyRequests, headers: headers)
            }
            let form = try await Self.readForm(request, context, secretNames: ["token"])
            let expected = request.cookies[Self.loginCookieName]?.value
            guard let expected, try await csrf.checker().verify(form["csrf"], binding: Self.loginBinding(expected)) else {
                return errorPage(Self.csrfRefused(back: "/admin/login"), caller: nil)
            }
            let token = form.secrets["token"].map(Self.trimmed)
            let tokens = services.tokens
            let grant: AccessGrant? =
                if let token, !token.isEmpty, token.count <= 256 {
                    try await services.work.run { try tokens.grant(for: token, now: now) }
                } else {
                    nil
                }
            guard let token, let grant else {
                throttle.fail(address, now: now)
                context.logger.notice("dashboard sign-in failed", metadata: ["address": "\(address)"])
                try await audit("dashboard.login-failed", tenant: nil, detail: "from \(address)")
                return try await loginForm(error: Self.loginFailed, notice: nil, status: .unauthorized)
            }
            throttle.succeed(address)
            let (session, cookie) = sessions.create(token: token, accessor: grant.accessor, now: now)
            context.logger.info("dashboard sign-in", metadata: ["token": "\(grant.accessor)", "session": "\(session.handle)"])
            try await audit("dashboard.login", tenant: nil, detail: "token \(grant.accessor) from \(address), session \(session.handle)")
            return AdminPages.redirect(
                "/admin",
                cookies: [
                    Self.cookie(AdminSessions.cookieName, cookie, maxAge: Int(sessions.lifetime), path: "/admin"),
                    Self.cookie(Self.loginCookieName, "", maxAge: 0, path: "/admin/login"),
                ])
        } catch {
            return errorPage(for: error, caller: nil, logger: context.logger)
        }
    }

    /// `POST /admin/logout`.
    func logout(_ caller: AdminCaller) async throws -> Response {
        sessions.end(handle: caller.session.handle)
        try await audit("dashboard.logout", tenant: nil, detail: "token \(caller.grant.accessor), session \(caller.session.handle)")
        return AdminPages.redirect("/admin/login?ended=logout", cookies: [Self.clearSessionCookie])
    }

    // MARK: Every signed-in request

    /// Runs `body` for a signed-in caller whose token (resolved now) has `action`'s scope. Without a
    /// live session: 303 to the sign-in page. A token that stopped working ends the session. A POST
    /// must carry the session's `csrf`. Errors become HTML pages.
    func signedIn(
        _ request: Request, _ context: Context, action: Action?, post: Bool,
        _ body: (AdminCaller, AdminForm?) async throws -> Response
    ) async -> Response {
        let now = self.now
        guard let cookie = request.cookies[AdminSessions.cookieName]?.value else {
            return AdminPages.redirect("/admin/login")
        }
        guard let session = sessions.session(cookie: cookie, now: now) else {
            return AdminPages.redirect("/admin/login?ended=expired", cookies: [Self.clearSessionCookie])
        }
        var caller: AdminCaller?
        do {
            let tokens = services.tokens
            let token = session.token
            guard let grant = try await services.work.run({ try tokens.grant(for: token, now: now) }) else {
                sessions.end(handle: session.handle)
                context.logger.notice("dashboard session ended: its token no longer works", metadata: ["session": "\(session.handle)"])
                try await audit(
                    "dashboard.session-ended", tenant: nil,
                    detail: "token \(session.accessor) no longer valid, session \(session.handle)")
                return AdminPages.redirect("/admin/login?ended=token", cookies: [Self.clearSessionCookie])
            }
            let checker = try await csrf.checker()
            let binding = "session:\(session.handle)"
            caller = AdminCaller(session: session, grant: grant, csrf: checker.token(binding: binding))
            var context = context
            context.identity = grant
            context.logger[metadataKey: "token"] = .string(grant.accessor)
            var form: AdminForm?
            if post {
                let parsed = try await Self.readForm(request, context)
                guard checker.verify(parsed["csrf"], binding: binding) else {
                    return errorPage(Self.csrfRefused(back: "/admin"), caller: caller)
                }
                form = parsed
            }
            if let action, !grant.permits(action.scope) {
                return errorPage(Self.forbidden(action.scope), caller: caller)
            }
            return try await body(caller!, form)
        } catch {
            return errorPage(for: error, caller: caller, logger: context.logger)
        }
    }

    // MARK: Helpers

    /// Writes an audit record (never a secret in it); durable when this returns.
    func audit(_ action: String, tenant: TenantID?, detail: String) async throws {
        try await services.vault.use { try $0.recordAudit(action: action, tenant: tenant, detail: detail) }
    }

    var provider: String { services.configuration.portal.providerName }

    /// The form in the body (`application/x-www-form-urlencoded`, at most the configured body cap).
    static func readForm(_ request: Request, _ context: Context, secretNames: Set<String> = []) async throws -> AdminForm {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw Problem(
                .unsupportedMediaType, code: "unsupported-media-type", detail: "The dashboard's forms are sent as form data.",
                hint: "Use the form on the page.")
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        return AdminForm(body.readableBytesView, secretNames: secretNames)
    }

    /// The client's address for the sign-in limit ("unknown" without a socket, as in router tests).
    static func address(_ context: Context) -> String {
        guard let address = context.remoteAddress else { return "unknown" }
        return address.ipAddress ?? "unknown"
    }

    /// What the sign-in form's token is bound to: the random value of its cookie.
    static func loginBinding(_ value: String) -> String { "admin-login:" + value }

    /// The token without spaces or line breaks around it (a paste often has them).
    static func trimmed(_ token: SecretBytes) -> SecretBytes {
        token.withUnsafeBytes { raw in
            let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
            var start = 0
            var end = raw.count
            while start < end && isSpace(raw[start]) { start += 1 }
            while end > start && isSpace(raw[end - 1]) { end -= 1 }
            return SecretBytes(copying: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
        }
    }

    /// A `Set-Cookie` value: always HttpOnly, Secure and SameSite=Strict (browsers accept Secure
    /// cookies from http://localhost and http://127.0.0.1, so plain-loopback setups work too).
    static func cookie(_ name: String, _ value: String, maxAge: Int, path: String) -> String {
        "\(name)=\(value); Max-Age=\(maxAge); Path=\(path); Secure; HttpOnly; SameSite=Strict"
    }

    static let clearSessionCookie = cookie(AdminSessions.cookieName, "", maxAge: 0, path: "/admin")

    static func minutes(_ seconds: Int64) -> String {
        let minutes = (seconds + 59) / 60
        return minutes == 1 ? "1 minute" : "\(minutes) minutes"
    }
}
