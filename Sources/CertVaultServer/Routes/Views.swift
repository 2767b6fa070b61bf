import CertVaultCore
import CertVaultOnboarding
import CertVaultVB365
import CertVaultVault
import Foundation
import Hummingbird

// The JSON shapes of the API (docs/api.md and /openapi.json describe them). No secrets here: the
// credential route writes RestoreCredential's own JSON.

/// A generation as the API shows it.
struct GenerationView: Codable, Sendable {
    var generation: Int
    var created: String
    var status: String
    var notAfter: String
    var thumbprint: String
    var kekId: Int
    var vb365OrganizationId: String?
    var applicationId: String?
    var msid: String?
    var region: String?
    var onboardingState: String?

    init(_ entry: EntrySummary) {
        generation = entry.generation
        created = entry.created
        status = entry.metadata.status.rawValue
        notAfter = entry.metadata.notAfter
        thumbprint = entry.metadata.thumbprintSHA1
        kekId = entry.kekID
        vb365OrganizationId = entry.metadata.vb365OrganizationID
        applicationId = entry.metadata.applicationID
        msid = entry.metadata.msid
        region = entry.metadata.region
        onboardingState = entry.metadata.onboardingState
    }
}

/// The active certificate of a tenant: its newest active generation.
struct ActiveView: Codable, Sendable {
    var generation: Int
    var notAfter: String
    var thumbprint: String

    init?(_ entries: [EntrySummary]) {
        guard let active = entries.filter({ $0.metadata.status == .active }).max(by: { $0.generation < $1.generation }) else { return nil }
        generation = active.generation
        notAfter = active.metadata.notAfter
        thumbprint = active.metadata.thumbprintSHA1
    }
}

/// One tenant in `GET /v1/tenants`.
struct TenantListItem: Codable, Sendable {
    var tenant: String
    var generations: Int
    var active: ActiveView?
    var onboardingState: String?
    var organizationId: String?
    /// The renewal scheduler's view (onboarded tenants, once a pass has run).
    var renewal: RenewalView?
    /// The earliest `notAfter` of the tenant's active generations (what `expiringWithin` filters
    /// on: an older active certificate VB365 still uses can expire before the newest).
    var earliestActiveNotAfter: String?
}

/// Where the renewal of the certificate VB365 uses stands (docs/renewal.md).
struct RenewalView: Codable, Sendable {
    var state: String
    var generation: Int
    var thumbprint: String
    var notAfter: String
    /// Whole days from now to `notAfter` (negative once expired).
    var daysLeft: Int
    /// Whether `urgentAt` has passed (or the certificate expired).
    var urgent: Bool
    var urgentAt: String?
    var dueSince: String?
    /// Reminder days already sent for this generation.
    var remindersSent: [Int]
    /// The renewal invitation waiting for the customer, by id.
    var invitationId: String?
    var nextStep: String?
    var drift: DriftView?

    init(_ renewal: RenewalState, now: Int64) {
        state = renewal.state.rawValue
        generation = renewal.generation
        thumbprint = renewal.thumbprint
        notAfter = renewal.notAfter
        let expiry = UTCTime.parse(renewal.notAfter) ?? now
        daysLeft = Int((Double(expiry - now) / 86_400).rounded(.down))
        urgentAt = renewal.urgentAt
        urgent = now >= expiry || renewal.urgentAt.flatMap(UTCTime.parse).map { now >= $0 } == true
        dueSince = renewal.dueSince
        remindersSent = renewal.remindersSent
        invitationId = renewal.invitationId
        nextStep = renewal.nextStep
        drift = renewal.drift.map(DriftView.init)
    }
}

/// VB365 disagrees with the vault.
struct DriftView: Codable, Sendable {
    /// `unknown-certificate`, `other-generation` or `organization-missing`.
    var kind: String
    var organizationId: String
    var reportedThumbprint: String?
    var expectedThumbprint: String?
    var detectedAt: String

    init(_ drift: RenewalState.Drift) {
        kind = drift.kind.rawValue
        organizationId = drift.organizationId
        reportedThumbprint = drift.reportedThumbprint
        expectedThumbprint = drift.expectedThumbprint
        detectedAt = drift.detectedAt
    }
}

/// `GET /v1/tenants`.
struct TenantList: Codable, Sendable {
    var tenants: [TenantListItem]
    /// The `after` value for the next page; absent on the last page.
    var next: String?
}

/// `GET /v1/tenants/{tenant}`.
struct TenantDetail: Codable, Sendable {
    var tenant: String
    var active: ActiveView?
    var generations: [GenerationView]
    var onboarding: OnboardingView?
}

/// Why a step failed.
struct FailureView: Codable, Sendable {
    var reason: String
    var hint: String?
    var at: String

    init(_ failure: OnboardingRecord.Failure) {
        reason = failure.reason
        hint = failure.hint
        at = failure.at
    }
}

/// A rotation.
struct RotationView: Codable, Sendable {
    var tenant: String
    var phase: String
    var generation: Int
    var thumbprint: String
    var previousGeneration: Int?
    var configureApplication: Bool
    var userCode: String?
    var verificationUrl: String?
    var codeExpiresAt: String?
    var failure: FailureView?
    var started: String
    var updated: String

    init(_ rotation: OnboardingRecord.Rotation, tenant: TenantID) {
        self.tenant = tenant.rawValue
        phase = rotation.phase.rawValue
        generation = rotation.generation
        thumbprint = rotation.thumbprint
        previousGeneration = rotation.previousGeneration
        configureApplication = rotation.configureApplication
        if rotation.phase == .awaitingCustomer {
            userCode = rotation.userCode
            verificationUrl = rotation.verificationUrl
            codeExpiresAt = rotation.codeExpiresAt
        }
        failure = rotation.failure.map(FailureView.init)
        started = rotation.started
        updated = rotation.updated
    }
}

/// An onboarding.
struct OnboardingView: Codable, Sendable {
    var tenant: String
    var state: String
    var displayName: String
    var organizationName: String
    var region: String
    var userCode: String?
    var verificationUrl: String?
    var message: String?
    var codeExpiresAt: String?
    var generation: Int?
    var thumbprint: String?
    var organizationId: String?
    var applicationId: String?
    var msid: String?
    var reportedThumbprint: String?
    var failure: FailureView?
    var rotation: RotationView?
    var renewal: RenewalView?
    var created: String
    var updated: String

    init(_ record: OnboardingRecord, now: Int64 = UTCTime.now()) {
        tenant = record.intake.tenant.rawValue
        state = record.state.rawValue
        displayName = record.intake.displayName
        organizationName = record.intake.officeName
        region = record.intake.region.rawValue
        if record.state == .awaitingCustomer {
            userCode = record.userCode
            verificationUrl = record.verificationUrl
            message = record.message
            codeExpiresAt = record.codeExpiresAt
        }
        generation = record.generation
        thumbprint = record.thumbprint
        organizationId = record.organizationId
        applicationId = record.applicationId
        msid = record.msid
        reportedThumbprint = record.reportedThumbprint
        failure = record.failure.map(FailureView.init)
        rotation = record.rotation.map { RotationView($0, tenant: record.intake.tenant) }
        renewal = record.state == .onboarded ? record.renewal.map { RenewalView($0, now: now) } : nil
        created = record.created
        updated = record.updated
    }
}

/// `GET /v1/onboardings`.
struct OnboardingList: Codable, Sendable {
    var onboardings: [OnboardingView]
    var next: String?
}

/// One audit record.
struct AuditRecordView: Codable, Sendable {
    var sequence: Int
    var time: String
    var actor: String
    var action: String
    var tenant: String?
    var generation: Int?
    var detail: String
}

/// `GET /v1/audit`.
struct AuditPage: Codable, Sendable {
    var records: [AuditRecordView]
    /// The `after` value for the next page; absent on the last page.
    var next: Int?
    /// False when the log does not verify (`certvault audit verify` says why).
    var verified: Bool
}

/// A certificate issued by `POST /v1/tenants/{tenant}/certificates`.
struct IssuedView: Codable, Sendable {
    var tenant: String
    var generation: Int
    var thumbprint: String
    var fingerprintSHA256: String
    var serialNumber: String
    var notBefore: String
    var notAfter: String
    var policy: String
    var subject: String
}

/// `/readyz`.
struct ReadinessView: Codable, Sendable {
    var status: String
    var vault: String
    var vb365: String
    var detail: String?
}

enum JSONResponse {
    /// `value` as JSON with `status`; never cached.
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return make(bytes: Array(try encoder.encode(value)), status: status, headers: headers)
    }

    static func make(bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
