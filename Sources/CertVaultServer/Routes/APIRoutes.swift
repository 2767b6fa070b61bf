import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultVault
import Foundation
public import Hummingbird
import Logging

/// Every route of the service, in one list: ``buildRouter(services:logger:extraRoutes:)`` registers
/// exactly these, the authorization table test walks exactly these, and the OpenAPI test checks
/// that /openapi.json describes each of them.
public enum APIRoutes {
    /// The routes (public ones first).
    public static let all: [APIRoute] = [
        APIRoute(.get, "/healthz", scope: nil, operationID: "health") { _, _, _ in
            JSONResponse.make(bytes: Array("{\"status\":\"alive\"}".utf8))
        },
        APIRoute(.get, "/readyz", scope: nil, operationID: "readiness", handler: PublicHandlers.readiness),
        APIRoute(.get, "/openapi.json", scope: nil, operationID: "openapi") { _, _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        },
        APIRoute(.get, "/v1/tenants", scope: .tenantsRead, operationID: "listTenants", handler: TenantHandlers.list),
        APIRoute(
            .get, "/v1/tenants/{tenant}", scope: .tenantsRead, tenant: .path, operationID: "getTenant",
            handler: TenantHandlers.detail),
        APIRoute(
            .post, "/v1/tenants/{tenant}/certificates", scope: .certificatesIssue, tenant: .path,
            operationID: "issueCertificate", handler: TenantHandlers.issue),
        APIRoute(
            .get, "/v1/tenants/{tenant}/credential", scope: .credentialsRead, tenant: .path,
            operationID: "getCredential", handler: TenantHandlers.credential),
        APIRoute(
            .post, "/v1/tenants/{tenant}/rotations", scope: .certificatesRotate, tenant: .path,
            operationID: "startRotation", handler: OnboardingHandlers.rotate),
        APIRoute(
            .get, "/v1/tenants/{tenant}/rotations", scope: .certificatesRotate, tenant: .path,
            operationID: "getRotation", handler: OnboardingHandlers.rotation),
        APIRoute(
            .post, "/v1/onboardings", scope: .onboardingWrite, tenant: .body, operationID: "startOnboarding",
            handler: OnboardingHandlers.start),
        APIRoute(
            .get, "/v1/onboardings", scope: .onboardingRead, operationID: "listOnboardings",
            handler: OnboardingHandlers.list),
        APIRoute(
            .get, "/v1/onboardings/{tenant}", scope: .onboardingRead, tenant: .path, operationID: "getOnboarding",
            handler: OnboardingHandlers.detail),
        APIRoute(
            .post, "/v1/onboardings/{tenant}/renew-code", scope: .onboardingWrite, tenant: .path,
            operationID: "renewOnboardingCode", handler: OnboardingHandlers.renewCode),
        APIRoute(.get, "/v1/audit", scope: .auditRead, operationID: "listAudit", handler: AuditHandlers.list),
        APIRoute(
            .post, "/v1/invitations", scope: .onboardingWrite, tenant: .body, operationID: "createInvitation",
            handler: InvitationHandlers.create),
        APIRoute(
            .get, "/v1/invitations", scope: .onboardingRead, operationID: "listInvitations", handler: InvitationHandlers.list),
        APIRoute(
            .delete, "/v1/invitations/{id}", scope: .onboardingWrite, operationID: "revokeInvitation",
            handler: InvitationHandlers.revoke),
    ]
}

extension RouteInput {
    /// The grant of a protected route.
    func requireGrant() throws -> AccessGrant {
        guard let grant else { throw Problem.tokenMissing }
        return grant
    }
}

/// Paging by tenant id: `after` is the last id of the previous page, `next` the value for the next one.
enum Paging {
    static func page<T>(_ items: [T], key: (T) -> String, after: String?, limit: Int) -> ([T], String?) {
        let rest = after.map { after in items.filter { key($0) > after } } ?? items
        let page = Array(rest.prefix(limit))
        return (page, rest.count > limit ? page.last.map(key) : nil)
    }

    static func after(_ query: Query) throws -> String? {
        guard let text = query["after"] else { return nil }
        guard (try? TenantID(text)) != nil else {
            throw Problem.invalidQuery(
                "The query parameter after must be a tenant id (the next value of the previous page).",
                hint: "Pass the 'next' value of the previous page as it is.")
        }
        return text
    }
}

// MARK: Public

enum PublicHandlers {
    @Sendable static func readiness(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let services = input.services
        var vault = "ok"
        var detail: String?
        do {
            let present = try await services.vault.use { try Vault.exists(storage: $0.storage) }
            if !present { vault = "failed"; detail = "the vault folder has no keyring" }
        } catch {
            vault = "failed"
            detail = Problem.safeDescription(of: error)
        }
        var storageReady = true
        if let storage = services.storage {
            do { try await services.work.run { try storage.check() } } catch {
                storageReady = false
                detail = "storage: " + Problem.safeDescription(of: error)
            }
        }
        let readiness = services.readiness
        let vb365 = try await services.work.run { readiness.checkVB365() }
        if detail == nil, let failure = vb365.detail { detail = "VB365: " + failure }
        let ready = vault == "ok" && vb365.status != "failed" && storageReady
        return try JSONResponse.make(
            ReadinessView(status: ready ? "ready" : "not-ready", vault: vault, vb365: vb365.status, detail: detail),
            status: ready ? .ok : .serviceUnavailable)
    }
}

// MARK: Tenants

/// `POST /v1/tenants/{tenant}/certificates`.
struct IssueBody: StrictJSONBody {
    static let fields: Set<String> = ["policy", "organization", "domain"]
    var policy: String?
    var organization: String?
    var domain: String?
}

enum TenantHandlers {
    static let listQuery: Set<String> = ["expiringWithin", "state", "limit", "after"]
    static let stateFilters = OnboardingRecord.State.allCases.map(\.rawValue) + ["none"]

    @Sendable static func list(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let query = try Query(request, allowed: listQuery)
        let within = try query.duration("expiringWithin")
        let state = query["state"]
        if let state, !stateFilters.contains(state) {
            throw Problem.invalidQuery(
                "The query parameter state must be one of \(stateFilters.joined(separator: ", ")).",
                hint: "For example state=onboarded; 'none' lists tenants never onboarded.")
        }
        let limit = try query.integer("limit", in: 1...1000, default: 100)!
        let after = try Paging.after(query)
        let services = input.services
        let store = services.onboardingStore
        let vaultTenants = try await services.vault.use { try TenantReader.generations($0, grant: grant) }
        let records = try await services.work.run { try TenantReader.records(store, grant: grant) }
        let byTenant = Dictionary(records.map { ($0.intake.tenant, $0) }, uniquingKeysWith: { first, _ in first })
        let now = services.clock()
        var items: [TenantID: TenantListItem] = [:]
        for (tenant, entries) in vaultTenants {
            items[tenant] = TenantListItem(tenant: tenant.rawValue, generations: entries.count, active: ActiveView(entries))
            items[tenant]?.earliestActiveNotAfter = entries.filter { $0.metadata.status == .active }.map(\.metadata.notAfter).min()
        }
        for record in records where items[record.intake.tenant] == nil {
            items[record.intake.tenant] = TenantListItem(tenant: record.intake.tenant.rawValue, generations: 0, active: nil)
        }
        for (tenant, record) in byTenant {
            items[tenant]?.onboardingState = record.state.rawValue
            items[tenant]?.organizationId = record.organizationId
            if record.state == .onboarded, let renewal = record.renewal { items[tenant]?.renewal = RenewalView(renewal, now: now) }
        }
        let limitDate = within.map { UTCTime.dateTime(now + $0) }
        let selected = items.values.filter { item in
            // Any active generation, as 'certvault list --expiring' does: during a rotation the older
            // certificate (the one VB365 still uses) expires first.
            if let limitDate, item.earliestActiveNotAfter.map({ $0 > limitDate }) ?? true { return false }
            if let state, (item.onboardingState ?? "none") != state { return false }
            return true
        }.sorted { $0.tenant < $1.tenant }
        let (page, next) = Paging.page(selected, key: \.tenant, after: after, limit: limit)
        return try JSONResponse.make(TenantList(tenants: page, next: next))
    }

    @Sendable static func detail(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        let store = input.services.onboardingStore
        let entries = try await input.services.vault.use { try TenantReader.generations($0, tenant: tenant, grant: grant) }
        let record = try await input.services.work.run { try TenantReader.record(store, tenant: tenant, grant: grant) }
        guard !entries.isEmpty || record != nil else { throw Problem.tenantNotFound(tenant.rawValue) }
        return try JSONResponse.make(
            TenantDetail(
                tenant: tenant.rawValue, active: ActiveView(entries),
                generations: entries.map(GenerationView.init),
                onboarding: record.map { OnboardingView($0, now: input.services.clock()) }))
    }

    @Sendable static func issue(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        let body = try await JSONBody.decode(IssueBody.self, from: request, context: context, emptyIsObject: true)
        for (field, value) in [("organization", body.organization), ("domain", body.domain)] {
            guard let value else { continue }
            // Template values end up in the subject and the PKCS#12 friendly name (a BMPString):
            // plain text of the Basic Multilingual Plane only (OpenSSL cannot encode the rest).
            guard (1...256).contains(value.count),
                !value.unicodeScalars.contains(where: { DisplayText.needsEscape($0) || $0.value > 0xFFFF })
            else {
                throw Problem(
                    .badRequest, code: "invalid-body",
                    detail: "The field '\(field)' must be 1 to 256 characters of plain text (no control characters, "
                        + "nothing outside Unicode's Basic Multilingual Plane such as emoji).",
                    hint: "Send the name as it should appear in the certificate, e.g. \"Contoso Ltd\".")
            }
        }
        let services = input.services
        let configured = services.configuration.onboarding.policy
        let policies = services.policies
        let logger = context.logger
        // Everything that can refuse the request runs before anything is written: the policy,
        // then the template values (prepare), then key generation, and only then the vault.
        let credential = try await services.work.run {
            let policy: IssuancePolicy
            if let name = body.policy {
                policy = try policies.load(name)
            } else if let configured, !configured.contains("/"), !configured.hasSuffix(".toml") {
                policy = try policies.load(configured)
            } else {
                policy = try PolicyLoader.load(pathOrBuiltIn: configured)
            }
            let issuer = Issuer(policy: policy, logger: logger)
            return try issuer.issue(try issuer.prepare(IssuanceRequest(tenant: tenant, org: body.organization, domain: body.domain)))
        }
        let generation = try await services.vault.use { try $0.store(tenant: tenant, payload: EntryPayload(credential)) }
        let summary = credential.summary
        var headers = HTTPFields()
        headers[.location] = "/v1/tenants/\(tenant.rawValue)"
        return try JSONResponse.make(
            IssuedView(
                tenant: tenant.rawValue, generation: generation, thumbprint: summary.thumbprintSHA1,
                fingerprintSHA256: summary.fingerprintSHA256, serialNumber: summary.serialNumber,
                notBefore: summary.notBefore, notAfter: summary.notAfter, policy: summary.policy, subject: summary.subject),
            status: .created, headers: headers)
    }

    @Sendable static func credential(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let tenant = try input.pathTenant()
        let query = try Query(request, allowed: ["purpose", "generation", "thumbprint"])
        guard let purpose = query["purpose"], !purpose.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw Problem(
                .badRequest, code: "purpose-required", detail: "Reading a credential needs a purpose; none was given.",
                hint: "Add ?purpose=... (one line, up to 200 characters, e.g. purpose=restore%20ticket%204711): it goes into the audit log."
            )
        }
        guard purpose.count <= 200, !purpose.unicodeScalars.contains(where: DisplayText.needsEscape) else {
            throw Problem.invalidQuery(
                "The purpose must be one line of at most 200 characters without control characters.",
                hint: "Shorten it; it goes into the audit log as it is.")
        }
        let generation = try query.integer("generation", in: 1...99_999_999)
        let thumbprint = query["thumbprint"]
        if let thumbprint {
            let hex = thumbprint.filter { $0 != ":" }
            guard hex.count == 40, hex.allSatisfy(\.isHexDigit) else {
                throw Problem.invalidQuery(
                    "The thumbprint must be a SHA-1 thumbprint: 40 hex digits (colons allowed).",
                    hint: "Copy it from GET /v1/tenants/{tenant}.")
            }
        }
        if generation != nil && thumbprint != nil {
            throw Problem.invalidQuery("Give generation or thumbprint, not both.", hint: "Drop one of them.")
        }
        let store = input.services.onboardingStore
        let record = try await input.services.work.run { try TenantReader.record(store, tenant: tenant, grant: grant) }
        var bytes = try await CredentialRead.retrieve(services: input.services, record: record, tenant: tenant, generation: generation,
                                                      thumbprint: thumbprint, purpose: purpose, accessor: grant.accessor)
        defer { SecureWipe.wipe(&bytes) }
        return JSONResponse.make(bytes: bytes)
    }
}

/// The one place the service reads a credential out of the vault, so the audited read can be
/// switched (to the vault's group-committed audit) here alone. The audit record (token accessor,
/// purpose, tenant, generation) is on disk before this returns, so before any response leaves.
enum CredentialRead {
    /// The audit detail of an API read: the token's accessor and the caller's purpose.
    static func auditPurpose(accessor: String, purpose: String) -> String { "api token \(accessor): \(purpose)" }

    /// The credential's JSON, the same as `certvault restore-credential --json` prints.
    ///
    /// The generation is chosen on the blocking pool (it reads entry files); the secrets are then
    /// read through the vault's ``CredentialReader``: this suspends, holding no thread, until the
    /// read's audit record is durable in a group commit with the other reads waiting at that
    /// moment. Nothing is returned when the record cannot be written.
    static func retrieve(services: AppServices, record: OnboardingRecord?, tenant: TenantID, generation: Int?, thumbprint: String?,
                         purpose: String, accessor: String) async throws -> [UInt8] {
        let reader = try await services.vault.credentialReader()
        let detail = auditPurpose(accessor: accessor, purpose: purpose)
        let chosen = try await services.work.run {
            guard try !reader.generations(of: tenant).isEmpty else { throw Problem.tenantNotFound(tenant.rawValue) }
            return try RestoreCredential.retrieve(vault: reader.acting(as: nil), record: record, tenant: tenant, generation: generation,
                                                  thumbprint: thumbprint, purpose: detail, secrets: false)
        }
        let credential = try await chosen.readingSecrets(from: reader, actor: nil, purpose: detail)
        return credential.json(includeSecrets: true)
    }
}

// MARK: Audit

enum AuditHandlers {
    @Sendable static func list(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let query = try Query(request, allowed: ["after", "limit"])
        let after = try query.integer("after", in: 0...(1 << 52), default: 0)!
        let limit = try query.integer("limit", in: 1...1000, default: 100)!
        let (records, verified) = try await input.services.vault.use { TenantReader.audit($0, after: after, grant: grant) }
        let page = records.prefix(limit).map {
            AuditRecordView(
                sequence: $0.sequence, time: $0.time, actor: $0.actor, action: $0.action, tenant: $0.tenant,
                generation: $0.generation, detail: $0.detail)
        }
        return try JSONResponse.make(
            AuditPage(
                records: Array(page), next: records.count > limit ? page.last?.sequence : nil,
                verified: verified))
    }
}
