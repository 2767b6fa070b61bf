import CertVaultAccess
import CertVaultCore
import CertVaultOnboarding

/// Where the customer's invitation stands, in the pages' words: the state `#status` and the
/// status endpoint report, the code, and why it failed. Read from the onboarding record (an
/// onboarding invitation) or its rotation (a renewal invitation, only one started since the
/// invitation was made).
struct CustomerProgress: Sendable, Equatable {
    /// The states of the contract.
    enum State: String, Sendable {
        case awaitingCustomer = "awaiting-customer"
        case addingOrganization = "adding-organization"
        case onboarded
        case expired
        case failed

        var isFinal: Bool { self == .onboarded || self == .expired || self == .failed }
    }

    var state: State
    var userCode: String?
    var verificationURL: String?
    /// ISO 8601 UTC.
    var codeExpiresAt: String?
    var failure: OnboardingRecord.Failure?

    /// The progress of `record` for `invitation` at `now`; nil when nothing has been started for it.
    init?(invitation: Invitation, record: OnboardingRecord?, now: Int64) {
        guard let record else { return nil }
        switch invitation.kind {
        case .onboarding:
            switch record.state {
            case .awaitingCustomer: state = .awaitingCustomer
            case .addingOrganization: state = .addingOrganization
            case .onboarded: state = .onboarded
            case .expired: state = .expired
            case .failed: state = .failed
            }
            userCode = record.userCode
            verificationURL = record.verificationUrl
            codeExpiresAt = record.codeExpiresAt
            failure = record.failure
        case .renewal:
            guard let rotation = Self.rotation(of: record, for: invitation) else { return nil }
            switch rotation.phase {
            case .awaitingCustomer: state = .awaitingCustomer
            case .updating: state = .addingOrganization
            case .done: state = .onboarded
            case .expired: state = .expired
            case .failed: state = .failed
            }
            userCode = rotation.userCode
            verificationURL = rotation.verificationUrl
            codeExpiresAt = rotation.codeExpiresAt
            failure = rotation.failure
        }
        // The worker marks a code that ran out at its next check; the customer hears it at once.
        if state == .awaitingCustomer, let expires = codeExpiresAt.flatMap(UTCTime.parse), expires <= now {
            state = .expired
        }
    }

    /// The record's rotation when it was started for this invitation (not an earlier one).
    static func rotation(of record: OnboardingRecord, for invitation: Invitation) -> OnboardingRecord.Rotation? {
        guard let rotation = record.rotation, let started = UTCTime.parse(rotation.started),
            started >= invitation.createdAt
        else { return nil }
        return rotation
    }

    /// Whether the invitation's work is finished: the organization added, or the rotation done.
    static func isComplete(invitation: Invitation, record: OnboardingRecord?) -> Bool {
        guard let record else { return false }
        switch invitation.kind {
        case .onboarding: return record.state == .onboarded
        case .renewal: return rotation(of: record, for: invitation)?.phase == .done
        }
    }

    /// The status line's text.
    func statusText(renewal: Bool) -> String {
        switch state {
        case .awaitingCustomer: "Waiting for the sign-in at Microsoft."
        case .addingOrganization:
            renewal ? "Signed in. Registering the new certificate." : "Signed in. Adding your organization."
        case .onboarded: "Connected"
        case .expired: "The code has expired. Get a new one."
        case .failed: "This did not work. See what happened."
        }
    }

    /// What went wrong, in plain words, from VB365's message and code (the raw text is shown apart).
    static func plainFailure(_ failure: OnboardingRecord.Failure?, provider: String) -> String {
        let text = [failure?.serverMessage, failure?.reason, failure?.errorCode].compactMap { $0 }.joined(separator: " ")
            .lowercased()
        func has(_ words: String...) -> Bool { words.contains { text.contains($0) } }
        if has("aadsts53003", "conditional access", "blocked by") {
            return "Microsoft blocked the sign-in with a Conditional Access policy of your organization. "
                + "The note about Conditional Access on the sign-in page says what your administrator can do."
        }
        if has("aadsts50105", "aadsts65001", "aadsts90094", "insufficient privileges", "global administrator", "consent",
            "not authorized", "forbidden", "permission")
        {
            return "The account that signed in could not approve the backup application. Sign in again as a Global "
                + "Administrator of your organization, and accept the permissions Microsoft asks for."
        }
        if has("already exists", "already been added", "already added", "duplicate") {
            return "Your organization is already connected to the backup server. \(provider) can check it for you."
        }
        if has("aadsts70020", "aadsts70019", "expired_token", "code expired", "expired") {
            return "The code expired before the sign-in was finished. Get a new code and sign in again."
        }
        if has("not found", "does not exist", "aadsts90002", "aadsts50020") {
            return "Microsoft 365 did not find the organization name you gave. Check it and send the form again."
        }
        return "The backup server could not finish this. Try again with a new code; if it fails again, contact "
            + "\(provider) and give them the backup server's message below."
    }
}
