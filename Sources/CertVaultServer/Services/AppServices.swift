public import CertVaultAccess
public import CertVaultConfiguration
public import CertVaultCore
public import CertVaultOnboarding
import CertVaultVB365
import Foundation
import HTTPTypes

/// Everything the routes use, made once at start and handed to ``buildRouter(services:logger:)``.
///
/// `certvault serve` builds it from the configuration file (open the vault, load the token store
/// and access policies, make the VB365 client and the onboarding workflow); tests build it from a
/// vault in a temporary folder, the VB365 simulator and a token authority of their own.
///
/// Concurrency: every member is `Sendable`. Blocking calls (vault, VB365, key generation, token
/// lookups) go through ``work``; the vault only through ``vault`` (one call at a time).
public struct AppServices: Sendable {
    /// The service's configuration (body cap, onboarding defaults, policy folder...).
    public var configuration: ServiceConfiguration
    /// The pool for blocking library calls; register it with the application (buildApplication does).
    public var work: BlockingWork
    /// The vault, serialized.
    public var vault: VaultService
    /// Resolves bearer tokens to grants (the token store, bound to access policies).
    public var tokens: any TokenAuthority
    /// The onboarding records.
    public var onboardingStore: OnboardingStore
    /// The onboarding and rotation workflow (it talks to VB365); `nil` when no VB365 connection is
    /// configured: those routes then answer 503 `vb365-not-configured`.
    public var onboarding: Onboarding?
    /// The issuance policies requests name.
    public var policies: PolicyDirectory
    /// `/readyz`.
    public var readiness: ReadinessProbe
    /// Seconds since 1970, UTC (tests may pin it).
    public var clock: @Sendable () -> Int64
    /// Called after an onboarding started or got a new code, so that the background worker checks
    /// it at once instead of at its next listing (`serve` sets it to the worker's `wake()`).
    public var onboardingChanged: @Sendable () -> Void = {}
    /// Called while a customer's sign-in page is open for an onboarding that waits for the sign-in,
    /// so that the background worker checks that tenant now rather than at its next interval (`serve`
    /// sets it to the worker's `expedite`, which keeps checks at least a second apart).
    public var onboardingWatched: @Sendable (TenantID) -> Void = { _ in }
    /// Where lifecycle events go (the webhook outbox when webhooks are configured).
    public var events: any LifecycleEventSink = DiscardingEventSink()
    /// The invitation links of the customer portal; `nil`: no portal (its pages answer 404, the
    /// invitation API 503 `portal-not-configured`).
    public var invitations: InvitationStore?
    /// Where the state lives (`[storage]`); `/readyz` fails while its database does not answer.
    /// `nil`: files only (tests that build services by hand).
    public var storage: ServiceStorage?

    public init(
        configuration: ServiceConfiguration, work: BlockingWork, vault: VaultService, tokens: any TokenAuthority,
        onboardingStore: OnboardingStore, onboarding: Onboarding?, policies: PolicyDirectory? = nil,
        readiness: ReadinessProbe? = nil, clock: @escaping @Sendable () -> Int64 = { UTCTime.now() },
        invitations: InvitationStore? = nil
    ) {
        self.configuration = configuration
        self.work = work
        self.vault = vault
        self.tokens = tokens
        self.onboardingStore = onboardingStore
        self.onboarding = onboarding
        self.policies = policies ?? PolicyDirectory(folder: configuration.policyFolder)
        if let readiness {
            self.readiness = readiness
        } else if let client = onboarding?.client {
            // A real request (with a login), not the cached API version.
            let check: @Sendable () throws -> Void = { _ = try client.serviceInstance() }
            self.readiness = ReadinessProbe(vb365: check)
        } else {
            self.readiness = ReadinessProbe(vb365: nil)
        }
        self.clock = clock
        self.invitations = invitations
    }

    /// The workflow, or 503 when the service has no VB365 connection.
    func requireOnboarding() throws -> Onboarding {
        guard let onboarding else {
            throw Problem(
                .serviceUnavailable, code: "vb365-not-configured",
                detail: "This service has no VB365 connection, so it cannot onboard or rotate.",
                hint: "Set [vb365] url, user and password_file in the service's configuration and restart it.")
        }
        return onboarding
    }
}
