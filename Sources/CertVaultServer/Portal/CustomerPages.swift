import CertVaultAccess
import CertVaultConfiguration
import CertVaultVault
import CertVaultCore
import CertVaultOnboarding
import CertVaultVB365
import Foundation
import Hummingbird
import Logging
import Synchronization

/// The customer's routes: welcome and form, sign-in, status, done, new code. Each one resolves
/// the invitation first; an unknown, revoked, expired or finished one gets ``PageRenderer/notFoundPage``.
extension PortalController {
    /// An invitation resolved for a request.
    struct Visit: Sendable {
        var token: String
        var invitation: Invitation
        var record: OnboardingRecord?
        /// This request found the work finished and marked the invitation completed.
        var justCompleted: Bool
        var csrf: CSRF

        var binding: String { "invitation:\(invitation.id)" }
        var renewal: Bool { invitation.kind == .renewal }
    }

    func addCustomerRoutes(to pages: RouterGroup<CertVaultRequestContext>) {
        pages.get("{token}") { request, context in try await welcome(request, context) }
        pages.post("{token}") { request, context in try await submit(request, context) }
        pages.get("{token}/sign-in") { request, context in try await signIn(request, context) }
        pages.get("{token}/status") { request, context in try await status(request, context) }
        pages.get("{token}/done") { request, context in try await done(request, context) }
        pages.post("{token}/renew") { request, context in try await renew(request, context) }
    }

    // MARK: Resolving

    /// The invitation of the path's token, with its tenant's record; marks it completed when its
    /// work is finished. `done`: the done page, which also answers for a while after completion.
    ///
    /// - Throws: `HTTPError(.notFound)` for every link that may not be used (one page for all).
    func visit(_ context: CertVaultRequestContext, done: Bool = false) async throws -> Visit {
        guard let store = services.invitations else { throw HTTPError(.notFound) }
        let token = try context.parameters.require("token")
        // A token is 4 + 16 + 1 + 43 characters of [a-z0-9_-]; anything else is not looked up.
        guard token.utf8.count <= 128, token.utf8.allSatisfy({ $0 < 0x80 }) else { throw HTTPError(.notFound) }
        let onboardingStore = services.onboardingStore
        let now = services.clock()
        let found = try await services.work.run { () throws -> (Invitation, OnboardingRecord?, Bool)? in
            let secret = Array(token.utf8).withUnsafeBytes { SecretBytes(copying: $0) }
            guard var invitation = try store.resolve(secret) else { return nil }
            let record = try onboardingStore.load(invitation.tenant)
            var justCompleted = false
            if invitation.isUsable(now: now), CustomerProgress.isComplete(invitation: invitation, record: record) {
                invitation = try store.markCompleted(id: invitation.id, now: now)
                justCompleted = true
            }
            return (invitation, record, justCompleted)
        }
        guard let (invitation, record, justCompleted) = found else { throw HTTPError(.notFound) }
        guard invitation.isUsable(now: now) || justCompleted || (done && invitation.showsDonePage(now: now)) else {
            throw HTTPError(.notFound)
        }
        if justCompleted { await auditCompletion(invitation) }
        return Visit(
            token: token, invitation: invitation, record: record, justCompleted: justCompleted,
            csrf: try await csrf.checker())
    }

    func auditCompletion(_ invitation: Invitation) async {
        let kind = invitation.kind.rawValue
        do {
            try await services.vault.use {
                try $0.recordAudit(
                    action: "portal.invitation.complete", tenant: invitation.tenant,
                    detail: "invitation \(invitation.id) (\(kind)) completed: its work is finished")
            }
        } catch {
            logger.error("portal: the completion of invitation \(invitation.id) could not be audited: \(Self.describe(error))")
        }
    }

    /// Marks the invitation completed when `visit.record` (read again since the visit began) says
    /// its work is finished.
    func completeIfFinished(_ visit: Visit) async throws -> Visit {
        guard let store = services.invitations, visit.invitation.isUsable(now: services.clock()),
            CustomerProgress.isComplete(invitation: visit.invitation, record: visit.record)
        else { return visit }
        let id = visit.invitation.id
        let now = services.clock()
        var visit = visit
        visit.invitation = try await services.work.run { try store.markCompleted(id: id, now: now) }
        visit.justCompleted = true
        await auditCompletion(visit.invitation)
        return visit
    }

    /// Refuses a POST whose `csrf` field is missing or wrong (403 page), before anything else.
    func checkCSRF(_ form: FormBody, _ visit: Visit) throws {
        guard visit.csrf.verify(form["csrf"], binding: visit.binding) else {
            throw PageRefusal(
                status: .forbidden,
                page: renderer.errorPage(
                    elementID: "error", title: "Form expired", heading: "This form could not be accepted",
                    message: "The page was too old or did not come from this site. Go back, reload the page and try again."))
        }
    }

    func values(_ visit: Visit, _ extra: [String: Any]) -> [String: Any] {
        var values: [String: Any] = [
            "token": visit.token, "csrf": visit.csrf.token(binding: visit.binding),
            "organization": visit.record?.intake.officeName ?? "", "renewal": visit.renewal,
        ]
        if let name = visit.invitation.displayName, !name.isEmpty { values["displayName"] = name }
        return values.merging(extra) { _, new in new }
    }

    // MARK: Welcome and form

    @Sendable func welcome(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        var visit = try await visit(context)
        if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        if visit.renewal {
            visit = try await checkRotation(visit)
            if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
            return try renewalPage(visit, startError: nil)
        }
        switch visit.record?.state {
        case nil:
            return formPage(visit, OnboardingForm(extraCount: extraLabels.count), status: .ok)
        case .awaitingCustomer, .addingOrganization:
            return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
        case .expired, .onboarded:
            return PageResponse.seeOther("/onboard/\(visit.token)/done")
        case .failed:
            // The details given last time, to correct and send again.
            let record = visit.record!
            var form = OnboardingForm(extraCount: extraLabels.count)
            form.organization = record.intake.officeName
            form.region = record.intake.region.rawValue
            form.exchange = record.intake.exchange
            form.sharePoint = record.intake.sharePoint
            form.teams = record.intake.teams
            form.teamsChats = record.intake.teamsChats
            form.contactName = record.intake.providerFields["contact_name"] ?? ""
            form.contactEmail = record.intake.providerFields["contact_email"] ?? ""
            form.extras = extraLabels.map { record.intake.providerFields[$0] ?? "" }
            let failure = CustomerProgress.plainFailure(record.failure, provider: renderer.settings.providerName)
            return formPage(visit, form, status: .ok, extra: ["previousFailure": failure])
        }
    }

    var extraLabels: [String] { services.configuration.portal.extraFields }

    func formPage(_ visit: Visit, _ form: OnboardingForm, status: HTTPResponse.Status, extra: [String: Any] = [:])
        -> Response
    {
        let page = renderer.render(
            "onboard_welcome",
            values(visit, form.values(extraLabels: extraLabels).merging(extra) { _, new in new }.merging([
                "title": "Connect your organization"
            ]) { _, new in new }))
        return PageResponse.html(page, status: status)
    }

    @Sendable func submit(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        let visit = try await visit(context)
        if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        let body = try await FormBody.read(request)
        try checkCSRF(body, visit)
        if visit.renewal { return try await startRenewal(visit, context) }
        switch visit.record?.state {
        case .awaitingCustomer, .addingOrganization:
            return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")  // sent twice
        case .onboarded, .expired:
            return PageResponse.seeOther("/onboard/\(visit.token)/done")
        case nil, .failed:
            break
        }
        var form = OnboardingForm(body, extraCount: extraLabels.count)
        guard form.validate() else { return formPage(visit, form, status: .unprocessableContent) }
        let intake: OnboardingRecord.Intake
        do {
            intake = try form.intake(
                tenant: visit.invitation.tenant, displayName: visit.invitation.displayName, extraLabels: extraLabels)
        } catch let error as CertVaultError {
            return formPage(visit, form, status: .unprocessableContent, extra: ["startError": error.reason])
        }
        do {
            _ = try await OnboardingHandlers.startOnboarding(intake, services: services)
        } catch let error as CertVaultError where error.code == .onboardingState {
            // Started meanwhile (another tab): carry on with that one.
            return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
        } catch {
            logger.warning(
                "portal: the onboarding of \(visit.invitation.tenant) could not start",
                metadata: ["invitation": "\(visit.invitation.id)", "error": "\(Self.describe(error))"])
            return formPage(
                visit, form, status: .serviceUnavailable,
                extra: [
                    "startError":
                        "We could not reach the backup server just now, so nothing was started. Try again in a few minutes."
                ])
        }
        let services = intakeServices(intake)
        try await audit(
            visit, action: "portal.onboarding.start",
            detail: "invitation \(visit.invitation.id): organization \(intake.officeName), region \(intake.region.rawValue), "
                + "services \(services), contact '\(DisplayText.escapingControls(form.contactName, limit: 80))'")
        return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
    }

    func intakeServices(_ intake: OnboardingRecord.Intake) -> String {
        [
            intake.exchange ? "exchange" : nil, intake.sharePoint ? "sharepoint" : nil, intake.teams ? "teams" : nil,
            intake.teamsChats ? "teamschats" : nil,
        ].compactMap { $0 }.joined(separator: ";")
    }

    func audit(_ visit: Visit, action: String, detail: String) async throws {
        let tenant = visit.invitation.tenant
        try await services.vault.use { try $0.recordAudit(action: action, tenant: tenant, detail: detail) }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as VB365Error: error.error.reason
        case let error as CertVaultError: error.reason
        default: "\(type(of: error))"
        }
    }

    // MARK: Renewal

    func renewalPage(_ visit: Visit, startError: String?) throws -> Response {
        guard let record = visit.record, record.state == .onboarded else {
            return PageResponse.html(
                renderer.errorPage(
                    elementID: "error", title: "Nothing to renew", heading: "This renewal cannot start yet",
                    message: "Your organization is not connected to the backup server, so there is no certificate to renew."),
                status: .conflict)
        }
        if let progress = CustomerProgress(invitation: visit.invitation, record: record, now: services.clock()) {
            switch progress.state {
            case .awaitingCustomer, .addingOrganization:
                return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
            case .expired, .onboarded:
                return PageResponse.seeOther("/onboard/\(visit.token)/done")
            case .failed:
                break
            }
        }
        var extra: [String: Any] = ["title": "Renew the certificate"]
        if let rotation = CustomerProgress.rotation(of: record, for: visit.invitation), rotation.phase == .failed {
            extra["previousFailure"] = CustomerProgress.plainFailure(rotation.failure, provider: renderer.settings.providerName)
        }
        if let startError { extra["startError"] = startError }
        return PageResponse.html(
            renderer.render("onboard_renewal", values(visit, extra)), status: startError == nil ? .ok : .serviceUnavailable)
    }

    func startRenewal(_ visit: Visit, _ context: CertVaultRequestContext) async throws -> Response {
        guard let record = visit.record, record.state == .onboarded else { return try renewalPage(visit, startError: nil) }
        if let progress = CustomerProgress(invitation: visit.invitation, record: record, now: services.clock()),
            progress.state == .awaitingCustomer || progress.state == .addingOrganization
        {
            return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")  // sent twice
        }
        let rotated: OnboardingRecord
        do {
            rotated = try await OnboardingHandlers.startRotation(
                visit.invitation.tenant, existing: record, configureApplication: true, services: services)
        } catch {
            logger.warning(
                "portal: the rotation of \(visit.invitation.tenant) could not start",
                metadata: ["invitation": "\(visit.invitation.id)", "error": "\(Self.describe(error))"])
            return try renewalPage(
                visit,
                startError: "We could not reach the backup server just now, so nothing was started. Try again in a few minutes.")
        }
        try await audit(
            visit, action: "portal.rotation.start",
            detail: "invitation \(visit.invitation.id): rotation to generation \(rotated.rotation?.generation ?? 0) "
                + "started by the customer")
        return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
    }

    /// A renewal's rotation waits for the customer's sign-in and no worker checks it: check it
    /// here, at most once per poll interval, and send the update once the customer signed in.
    func checkRotation(_ visit: Visit) async throws -> Visit {
        guard visit.renewal, let record = visit.record,
            CustomerProgress.rotation(of: record, for: visit.invitation)?.phase == .awaitingCustomer,
            rotationChecks.due(visit.invitation.tenant, every: Double(services.configuration.portal.statusPollSeconds)),
            let onboarding = services.onboarding
        else { return visit }
        let tenant = visit.invitation.tenant
        var visit = visit
        do {
            let updated = try await services.work.run { try onboarding.resumeRotation(tenant, wait: .checkOnce) }
            visit.record = updated
        } catch {
            logger.warning("portal: checking the rotation of \(tenant) failed", metadata: ["error": "\(Self.describe(error))"])
        }
        return try await completeIfFinished(visit)
    }

    /// An onboarding whose customer has the sign-in page open and has not signed in yet: ask the
    /// worker to check it now (it keeps checks a second apart), so "Connected" shows within about one
    /// status poll of the sign-in instead of one worker interval later.
    func watchOnboarding(_ visit: Visit) {
        guard !visit.renewal, let record = visit.record, record.state == .awaitingCustomer else { return }
        services.onboardingWatched(visit.invitation.tenant)
    }

    // MARK: Sign-in, status, done

    @Sendable func signIn(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        var visit = try await visit(context)
        if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        visit = try await checkRotation(visit)
        watchOnboarding(visit)
        if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        guard let progress = CustomerProgress(invitation: visit.invitation, record: visit.record, now: services.clock())
        else { return PageResponse.seeOther("/onboard/\(visit.token)") }
        guard progress.state == .awaitingCustomer || progress.state == .addingOrganization,
            let code = progress.userCode
        else { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        let expires = progress.codeExpiresAt ?? ""
        let page = renderer.render(
            "onboard_sign_in",
            values(
                visit,
                [
                    "title": "Sign in at Microsoft", "userCode": code,
                    "verificationURL": Self.safeVerificationURL(progress.verificationURL),
                    "codeExpiresAt": expires, "codeExpiresAtText": Self.clockText(expires),
                    "state": progress.state.rawValue, "statusText": progress.statusText(renewal: visit.renewal),
                    "pollSeconds": services.configuration.portal.statusPollSeconds,
                ]))
        return PageResponse.html(page)
    }

    /// Microsoft's device-login page; anything but an https URL is replaced by it.
    static func safeVerificationURL(_ url: String?) -> String {
        guard let url, url.lowercased().hasPrefix("https://"), !url.contains(where: { $0.isWhitespace }) else {
            return "https://microsoft.com/devicelogin"
        }
        return url
    }

    /// `14:05 UTC` from `2026-12-02T14:05:00Z`.
    static func clockText(_ iso: String) -> String {
        guard UTCTime.parse(iso) != nil else { return "soon" }
        let time = iso.dropFirst(11).prefix(5)
        return "\(time) UTC"
    }

    /// `GET /onboard/{token}/status`: `{"state", "message", "codeExpiresAt"}`.
    struct StatusBody: Encodable {
        var state: String
        var message: String
        var codeExpiresAt: String?
    }

    @Sendable func status(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        var visit = try await visit(context)
        visit = try await checkRotation(visit)
        watchOnboarding(visit)
        if visit.justCompleted || visit.invitation.status == .completed {
            return try PageResponse.json(StatusBody(state: "onboarded", message: "Connected", codeExpiresAt: nil))
        }
        guard let progress = CustomerProgress(invitation: visit.invitation, record: visit.record, now: services.clock())
        else {
            return try PageResponse.json(
                StatusBody(state: "not-started", message: "Nothing has been started yet.", codeExpiresAt: nil))
        }
        if progress.state == .onboarded {
            // Finished since this request's check began: the next request completes the invitation.
            return try PageResponse.json(StatusBody(state: "onboarded", message: "Connected", codeExpiresAt: nil))
        }
        return try PageResponse.json(
            StatusBody(
                state: progress.state.rawValue, message: progress.statusText(renewal: visit.renewal),
                codeExpiresAt: progress.codeExpiresAt))
    }

    @Sendable func done(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        let visit = try await visit(context, done: true)
        var extra: [String: Any] = ["title": "Result"]
        if visit.invitation.status == .completed {
            // Finished: nothing secret, no form.
            extra["state"] = "onboarded"
            extra["succeeded"] = true
            return PageResponse.html(renderer.render("onboard_done", values(visit, extra)))
        }
        guard let progress = CustomerProgress(invitation: visit.invitation, record: visit.record, now: services.clock())
        else { return PageResponse.seeOther("/onboard/\(visit.token)") }
        extra["state"] = progress.state.rawValue
        switch progress.state {
        case .onboarded:
            extra["succeeded"] = true  // completed by the next request
        case .expired:
            extra["expired"] = true
        case .failed:
            extra["failed"] = true
            extra["failureMessage"] = CustomerProgress.plainFailure(progress.failure, provider: renderer.settings.providerName)
            if let raw = progress.failure?.serverMessage ?? progress.failure?.reason { extra["serverMessage"] = raw }
            extra["canRetry"] = true
            if !visit.renewal { extra["formURL"] = "/onboard/\(visit.token)" }
        case .awaitingCustomer, .addingOrganization:
            extra["pending"] = true
        }
        return PageResponse.html(renderer.render("onboard_done", values(visit, extra)))
    }

    /// `POST /onboard/{token}/renew`: a new code (onboarding), or the rotation carried on with one (renewal).
    @Sendable func renew(_ request: Request, _ context: CertVaultRequestContext) async throws -> Response {
        let visit = try await visit(context)
        if visit.justCompleted { return PageResponse.seeOther("/onboard/\(visit.token)/done") }
        let body = try await FormBody.read(request)
        try checkCSRF(body, visit)
        guard let record = visit.record,
            let progress = CustomerProgress(invitation: visit.invitation, record: record, now: services.clock())
        else { return PageResponse.seeOther("/onboard/\(visit.token)") }
        guard progress.state == .expired || progress.state == .failed || progress.state == .awaitingCustomer else {
            return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
        }
        do {
            if visit.renewal {
                _ = try await OnboardingHandlers.startRotation(
                    visit.invitation.tenant, existing: record, configureApplication: true, services: services)
            } else {
                _ = try await OnboardingHandlers.renewOnboardingCode(visit.invitation.tenant, services: services)
            }
        } catch {
            logger.warning(
                "portal: a new code for \(visit.invitation.tenant) failed",
                metadata: ["invitation": "\(visit.invitation.id)", "error": "\(Self.describe(error))"])
            return PageResponse.html(
                renderer.errorPage(
                    elementID: "error", title: "No new code", heading: "We could not get a new code just now",
                    message: "The backup server did not answer. Go back and try again in a few minutes."),
                status: .serviceUnavailable)
        }
        try await audit(
            visit, action: visit.renewal ? "portal.rotation.renew-code" : "portal.onboarding.renew-code",
            detail: "invitation \(visit.invitation.id): new device code requested by the customer")
        return PageResponse.seeOther("/onboard/\(visit.token)/sign-in")
    }
}

/// A page that refuses the request (a form without a valid CSRF token): thrown, answered as it is.
struct PageRefusal: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let page: String

    func response(from request: Request, context: some RequestContext) throws -> Response {
        PageResponse.html(page, status: status)
    }
}

/// When each tenant's rotation was last checked with VB365 from the pages.
final class RotationChecks: Sendable {
    private let last = Mutex<[TenantID: Date]>([:])

    /// True (and noted) when the last check is `every` seconds ago or more.
    func due(_ tenant: TenantID, every seconds: Double) -> Bool {
        let now = Date()
        return last.withLock { last in
            if let previous = last[tenant], now.timeIntervalSince(previous) < seconds { return false }
            last[tenant] = now
            return true
        }
    }
}
