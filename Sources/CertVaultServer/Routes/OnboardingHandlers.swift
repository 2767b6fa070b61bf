import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultVault
import CertVaultWebhooks
import Foundation
import Hummingbird
import Logging

/// `POST /v1/onboardings`.
struct StartOnboardingBody: StrictJSONBody {
    static let fields: Set<String> = [
        "tenant", "organizationName", "displayName", "region", "services", "applicationName", "msid", "providerFields",
    ]
    var tenant: String
    var organizationName: String
    var displayName: String?
    var region: String?
    var services: String?
    var applicationName: String?
    var msid: String?
    var providerFields: [String: String]?
}

/// `POST /v1/tenants/{tenant}/rotations`.
struct RotationBody: StrictJSONBody {
    static let fields: Set<String> = ["configureApplication"]
    var configureApplication: Bool?
}

/// Onboardings and rotations: the library's workflow (``Onboarding``), run on the blocking pool.
enum OnboardingHandlers {
    @Sendable static func start(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        _ = try Query(request, allowed: [])
        let body = try await JSONBody.decode(StartOnboardingBody.self, from: request, context: context)
        let tenant = try RouteInput.tenant(fromPath: body.tenant)
        try input.requireCovered(tenant)
        let defaults = input.services.configuration.onboarding
        let values: [String: String?] = [
            "tenant": tenant.rawValue, "org_name": body.organizationName, "display_name": body.displayName,
            "region": body.region ?? defaults.region, "services": body.services ?? defaults.services,
            "app_name": body.applicationName, "msid": body.msid,
        ]
        // The same checks as `onboard start` and intake files, before anything is sent or written.
        let intake = try IntakeFile.intake(values.compactMapValues { $0 }, fields: body.providerFields ?? [:])
        let record = try await startOnboarding(intake, services: input.services)
        var headers = HTTPFields()
        headers[.location] = "/v1/onboardings/\(tenant.rawValue)"
        return try JSONResponse.make(OnboardingView(record), status: .accepted, headers: headers)
    }

    /// Starts an onboarding: the one path of `POST /v1/onboardings` and the customer portal's form.
    /// Checks the intake, gets the device code (blocking pool) and wakes the worker.
    static func startOnboarding(_ intake: OnboardingRecord.Intake, services: AppServices) async throws -> OnboardingRecord {
        // The same checks as `onboard start` and intake files, before anything is sent or written.
        try intake.validate()
        let onboarding = try services.requireOnboarding()
        let record = try await services.work.run { try onboarding.start(intake) }
        services.onboardingChanged()
        await emit(OnboardingEvents.codeIssued(record, now: services.clock()), services: services)
        return record
    }

    /// A new device code (`POST /v1/onboardings/{tenant}/renew-code` and the portal's "get a new code").
    static func renewOnboardingCode(_ tenant: TenantID, services: AppServices) async throws -> OnboardingRecord {
        let onboarding = try services.requireOnboarding()
        let renewed = try await services.work.run { try onboarding.renewCode(tenant) }
        services.onboardingChanged()
        await emit(OnboardingEvents.codeIssued(renewed, now: services.clock()), services: services)
        return renewed
    }

    /// Starts or carries on a rotation (`POST /v1/tenants/{tenant}/rotations` and a renewal invitation's
    /// start button): a rotation waiting for the customer is checked once first; an expired code is renewed.
    static func startRotation(
        _ tenant: TenantID, existing: OnboardingRecord, configureApplication: Bool, services: AppServices
    ) async throws -> OnboardingRecord {
        let onboarding = try services.requireOnboarding()
        return try await services.work.run {
            if existing.rotation?.phase == .awaitingCustomer {
                // A rotation waiting for the customer (as `rotate --resume`): check the sign-in once and
                // send the update if it happened; an expired code gets a new one below.
                let resumed = try onboarding.resumeRotation(tenant, wait: .checkOnce)
                if resumed.rotation?.phase != .expired { return resumed }
            }
            return try onboarding.rotate(tenant, configureApplication: configureApplication)
        }
    }

    @Sendable static func list(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let grant = try input.requireGrant()
        let query = try Query(request, allowed: ["state", "limit", "after"])
        let states = OnboardingRecord.State.allCases.map(\.rawValue)
        let state = query["state"]
        if let state, !states.contains(state) {
            throw Problem.invalidQuery(
                "The query parameter state must be one of \(states.joined(separator: ", ")).",
                hint: "For example state=awaiting-customer.")
        }
        let limit = try query.integer("limit", in: 1...1000, default: 100)!
        let after = try Paging.after(query)
        let store = input.services.onboardingStore
        let records = try await input.services.work.run { try TenantReader.records(store, grant: grant) }
        let now = input.services.clock()
        let selected = records.filter { state == nil || $0.state.rawValue == state }.map { OnboardingView($0, now: now) }
        let (page, next) = Paging.page(selected, key: \.tenant, after: after, limit: limit)
        return try JSONResponse.make(OnboardingList(onboardings: page, next: next))
    }

    /// The tenant's record, or 404: `onboarding-not-found` when the tenant exists without one,
    /// `tenant-not-found` when there is nothing of it at all.
    static func record(_ input: RouteInput, tenant: TenantID) async throws -> OnboardingRecord {
        let grant = try input.requireGrant()
        let store = input.services.onboardingStore
        if let record = try await input.services.work.run({ try TenantReader.record(store, tenant: tenant, grant: grant) }) {
            return record
        }
        let exists = try await input.services.vault.use { !(try TenantReader.generations($0, tenant: tenant, grant: grant)).isEmpty }
        guard exists else { throw Problem.tenantNotFound(tenant.rawValue) }
        throw Problem(
            .notFound, code: "onboarding-not-found", detail: "Tenant \(Problem.quoted(tenant.rawValue)) has no onboarding.",
            hint: "Start one with POST /v1/onboardings.")
    }

    @Sendable static func detail(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        return try JSONResponse.make(OnboardingView(try await record(input, tenant: tenant)))
    }

    @Sendable static func renewCode(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        _ = try await record(input, tenant: tenant)
        let renewed = try await renewOnboardingCode(tenant, services: input.services)
        return try JSONResponse.make(OnboardingView(renewed))
    }

    @Sendable static func rotate(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        let body = try await JSONBody.decode(RotationBody.self, from: request, context: context, emptyIsObject: true)
        let rotation = try await startRotation(input, tenant: tenant, configureApplication: body.configureApplication ?? true)
        var headers = HTTPFields()
        headers[.location] = "/v1/tenants/\(tenant.rawValue)/rotations"
        return try JSONResponse.make(RotationView(rotation, tenant: tenant), status: .accepted, headers: headers)
    }

    /// Starts a rotation of `tenant` (covered by `input`'s grant), or resumes one that waits for the
    /// customer: the one code path of `POST /v1/tenants/{tenant}/rotations` and the dashboard's
    /// rotate button.
    static func startRotation(_ input: RouteInput, tenant: TenantID, configureApplication configure: Bool) async throws
        -> OnboardingRecord.Rotation
    {
        let existing = try await record(input, tenant: tenant)
        let record = try await startRotation(tenant, existing: existing, configureApplication: configure, services: input.services)
        guard let rotation = record.rotation else { throw rotationNotFound(tenant) }
        return rotation
    }

    @Sendable static func rotation(_ request: Request, _ context: CertVaultRequestContext, _ input: RouteInput) async throws -> Response {
        let tenant = try input.pathTenant()
        _ = try Query(request, allowed: [])
        guard let rotation = try await record(input, tenant: tenant).rotation else { throw rotationNotFound(tenant) }
        return try JSONResponse.make(RotationView(rotation, tenant: tenant))
    }

    /// Records a lifecycle event (durable before the response goes out). The onboarding itself
    /// has happened, so a failure to record is logged, not answered as the request's failure.
    static func emit(_ event: LifecycleEvent, services: AppServices) async {
        let events = services.events
        if events is DiscardingEventSink { return }
        do {
            try await services.work.run { try events.record(event) }
        } catch {
            Logger(label: "certvault.events").error("cannot record the \(event.kind.rawValue) event \(event.id) for \(event.tenant?.rawValue ?? "-"): \(error)")
        }
    }

    static func rotationNotFound(_ tenant: TenantID) -> Problem {
        Problem(
            .notFound, code: "rotation-not-found", detail: "Tenant \(Problem.quoted(tenant.rawValue)) has no rotation.",
            hint: "Start one with POST /v1/tenants/\(tenant.rawValue)/rotations.")
    }
}
