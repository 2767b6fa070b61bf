import ArgumentParser
import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultServer
import CertVaultVault
import CertVaultVB365
import CertVaultWebhooks
import Foundation
import Logging

/// `certvault serve`: the HTTP service. One process holds the unlocked vault, answers the API over
/// HTTPS, and finishes onboardings in the background; SIGTERM or SIGINT stops it gracefully.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the certvault service: the HTTPS API and the background onboarding worker.",
        discussion: """
            Reads the configuration file (--config, else $CERTVAULT_CONFIG, else built-in defaults; \
            environment variables override it: docs/configuration.md), opens the vault, and listens. \
            Only one 'serve' may serve a vault at a time; the CLI's commands keep working on it. \
            SIGTERM or SIGINT: stop accepting, finish requests in flight within shutdown_grace_seconds, \
            leave every onboarding where the next start continues it. See docs/service.md.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The configuration file (default: $CERTVAULT_CONFIG, else built-in defaults).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Once listening, write the URL, port and TLS fingerprint here as JSON (removed at a clean stop).",
                                            valueName: "path"))
    var readyFile: String?

    @Flag(name: .long, help: "Log only warnings and errors (default: progress too).")
    var quiet = false

    func run() async throws {
        var logger = Logger(label: "certvault.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = quiet ? .warning : .info
        let configuration = try ServiceConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
        let prepared = try ServePreparation.prepare(configuration, logger: logger)
        defer { withExtendedLifetime(prepared.lock) {} }  // held until the service has stopped
        defer { prepared.storage.shutdown() }  // after the HTTP server and the background jobs
        do {
            try await ServiceRunner.run(
                services: prepared.services, worker: prepared.worker,
                background: (prepared.renewal.map { [$0] } ?? []) + (prepared.webhookDelivery.map { [$0] } ?? []),
                selfSignedFile: "\(configuration.vault.path)/serve-certificate.pem", readyFile: readyFile, logger: logger
            ) { ready in
                var lines = ["certvault serve: listening on \(ready.url) (process \(ready.pid))"]
                if let fingerprint = ready.fingerprintSHA256 {
                    lines.append("TLS certificate SHA-256 fingerprint: \(fingerprint)")
                    lines.append("public-key pin: \(ready.publicKeyPin ?? "?")")
                }
                if let file = ready.certificateFile, case .selfSigned = configuration.tls {
                    lines.append("self-signed certificate (made at this start): \(file)")
                    lines.append("  try: curl --cacert \(file) \(ready.url)/healthz")
                }
                lines.append(prepared.workerLine)
                lines.append(prepared.renewalLine)
                if let webhooks = prepared.webhookDelivery {
                    lines.append("webhooks: \(webhooks.deliverer.outbox.receivers.count) receiver(s), outbox \(webhooks.deliverer.outbox.path)")
                }
                Terminal.out(lines.joined(separator: "\n") + "\n")
            }
        }
    }
}

/// What `serve` prepares before it listens: the lock, the vault, tokens and access policies,
/// the workflow and its worker. Every refusal comes here, before the port is opened.
struct ServePreparation {
    /// The vault folder's serve lock; nil on PostgreSQL, where several replicas serve one vault.
    let lock: ServeLock?
    /// Where the state lives (`[storage]`).
    let storage: ServiceStorage
    let services: AppServices
    let worker: OnboardingWorker?
    let workerLine: String
    /// The renewal scheduler (when `[renewal] enabled`).
    var renewal: RenewalSchedulerService?
    var renewalLine = "renewal scheduler: off ([renewal] enabled = false)"
    /// The webhook deliverer, when [webhooks] urls are configured (its outbox is `services.events`).
    let webhookDelivery: WebhookDeliveryService?

    static func prepare(_ configuration: ServiceConfiguration, logger: Logger) throws -> ServePreparation {
        let vaultPath = configuration.vault.path
        // [storage]: with PostgreSQL, the pool is started and the schema migrated here, before any use.
        let storage = try ServiceStorage.open(configuration, logger: logger)
        guard try storage.vaultExists(configuration.vault) else {
            if storage.isShared {
                throw CertVaultError(.vaultMissing, "The database \(storage.description) holds no vault to serve.",
                                     hint: "Put the vault into the database first (docs/operations.md), or set [storage] backend = \"files\".")
            }
            throw CertVaultError(.vaultMissing, "There is no vault at '\(vaultPath)' to serve.",
                                 hint: "Create one with 'certvault init --vault \(vaultPath)', or set [vault] path in the configuration file.")
        }
        // First, so that a second 'serve' is refused before it touches anything. On PostgreSQL several
        // replicas share the state by design: the database coordinates them, not a lock file.
        let lock = configuration.storage.backend == .files ? try ServeLock(vaultPath: vaultPath) : nil
        // A policy that does not parse, or names an unknown scope, stops the start: it never
        // grants anything by default.
        let policies = try AccessPolicySet.load(folder: configuration.accessPolicyFolder)
        let vault = try storage.openVault(configuration.vault)
        let tokens = try storage.tokenStore(vault: vault, path: configuration.tokenStorePath, policies: policies, logger: logger)
        for token in try tokens.tokensWithMissingPolicy() {
            // Grants nothing until the policy is back; said at start so a renamed policy is noticed.
            logger.warning("token \(token.accessor) ('\(token.name)') is bound to the access policy '\(token.policy ?? "?")', which is not in \(configuration.accessPolicyFolder): it grants nothing")
        }
        let work = BlockingWork(threads: configuration.blockingThreads)
        // Two handles: an audited credential read and its append can run beside another call.
        let vaultService = VaultService(handles: [vault, try vault.anotherHandle()], work: work)
        let store = try storage.onboardingStore(folder: configuration.onboarding.stateDirectory)
        // Webhooks: the durable outbox is the event sink; the worker reports onboarding outcomes to it.
        let webhooks = try WebhookWiring.prepare(configuration, storage: storage, logger: logger)
        var onboarding: Onboarding?
        var worker: OnboardingWorker?
        var workerLine = "onboarding worker: off (no [vb365] url in the configuration)"
        if configuration.vb365.url != nil {
            let client = try configuration.vb365.makeClient(userAgent: "certvault/\(CertVault.version)", logger: logger)
            // Every exchange with VB365 (retries included) in certvault_vb365_calls_total{outcome}.
            client.observeExchanges { status in
                let outcome: ServiceMetrics.VB365Outcome = switch status {
                case .some(200..<300): .success
                case .some: .httpError
                case .none: .transportError
                }
                ServiceMetrics.shared.vb365Call(outcome: outcome)
            }
            let issuer = Issuer(policy: try configuration.issuancePolicy(), logger: logger)
            // The workflow's own handle: it serializes its vault calls under its own lock.
            let workflow = Onboarding(client: client, vault: try vault.anotherHandle(), store: store, issuer: issuer, logger: logger)
            workflow.pollInterval = configuration.onboarding.pollInterval
            let settings = OnboardingWorker.Settings(pollInterval: configuration.onboarding.pollInterval,
                                                     concurrency: configuration.onboarding.concurrency,
                                                     drainSeconds: configuration.shutdownGraceSeconds)
            worker = OnboardingWorker(onboarding: workflow, settings: settings, logger: logger,
                                      jobLease: storage.jobLease(JobLease.onboardingWorker, logger: logger),
                                      observer: OnboardingEvents.workerObserver(store: store, events: webhooks?.outbox, logger: logger))
            onboarding = workflow
            workerLine = "onboarding worker: records in \(store.folder), checking every \(Int(settings.pollInterval)) s, "
                + "\(settings.concurrency) at once, VB365 \(client.configuration.serverURL)"
        }
        // Invitation links of the customer portal: hashes only, in the vault folder, MACed with a key of the vault's.
        let invitations = try storage.invitationStore(vault: vault)
        var services = AppServices(configuration: configuration, work: work, vault: vaultService, tokens: tokens,
                                   onboardingStore: store, onboarding: onboarding, invitations: invitations)
        if let worker {
            services.onboardingChanged = { worker.wake() }
            services.onboardingWatched = { worker.expedite($0, minimumSpacing: 1) }
        }
        if let webhooks { services.events = webhooks.outbox }
        services.storage = storage
        logger.info("storage: \(storage.description)")
        logger.info("access policies: \(policies.names.isEmpty ? "none" : policies.names.joined(separator: ", ")); tokens in \(tokens.path)")
        var prepared = ServePreparation(lock: lock, storage: storage, services: services, worker: worker, workerLine: workerLine,
                                        webhookDelivery: webhooks.map { WebhookDeliveryService(deliverer: $0, logger: logger) })
        if configuration.renewal.enabled {
            // The scheduler records into services.events: it must be the final sink by now.
            let renewBeforeDays = try configuration.issuancePolicy().renewBeforeDays
            let renewalInvitations = try services.invitations.map {
                PortalRenewalInvitations(store: $0, vault: try vault.anotherHandle(actor: "renewal-scheduler"),
                                         lifetimeDays: configuration.portal.invitationDays)
            }
            prepared.renewal = RenewalSchedulerService.make(services: services, vault: try vault.anotherHandle(),
                                                            renewBeforeDays: renewBeforeDays, invitations: renewalInvitations,
                                                            logger: logger)
            prepared.renewalLine = "renewal scheduler: every \(configuration.renewal.intervalHours) h, reminders at "
                + "\(configuration.renewal.reminderDays.map(String.init).joined(separator: ", ")) days, drift check "
                + (configuration.renewal.checkDrift && onboarding != nil ? "on" : "off")
        }
        return prepared
    }
}
