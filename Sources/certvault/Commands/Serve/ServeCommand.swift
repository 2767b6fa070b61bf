import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultServer
import CertVaultVault
import CertVaultVB365
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
        do {
            try await ServiceRunner.run(
                configuration: configuration, worker: prepared.worker,
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
                Terminal.out(lines.joined(separator: "\n") + "\n")
            }
        }
    }
}

/// What `serve` prepares before it listens: the lock, the vault, the worker. Every
/// refusal comes here, before the port is opened.
struct ServePreparation {
    let lock: ServeLock
    let worker: OnboardingWorker?
    let workerLine: String

    static func prepare(_ configuration: ServiceConfiguration, logger: Logger) throws -> ServePreparation {
        let vaultPath = configuration.vault.path
        guard configuration.vault.exists else {
            throw CertVaultError(.vaultMissing, "There is no vault at '\(vaultPath)' to serve.",
                                 hint: "Create one with 'certvault init --vault \(vaultPath)', or set [vault] path in the configuration file.")
        }
        // First, so that a second 'serve' is refused before it touches anything.
        let lock = try ServeLock(vaultPath: vaultPath)
        let vault = try configuration.vault.openVault()
        var worker: OnboardingWorker?
        var workerLine = "onboarding worker: off (no [vb365] url in the configuration)"
        if configuration.vb365.url != nil {
            let client = try configuration.vb365.makeClient(userAgent: "certvault/\(CertVault.version)", logger: logger)
            let issuer = Issuer(policy: try configuration.issuancePolicy(), logger: logger)
            let store = try OnboardingStore(folder: configuration.onboarding.stateDirectory)
            let onboarding = Onboarding(client: client, vault: vault, store: store, issuer: issuer, logger: logger)
            onboarding.pollInterval = configuration.onboarding.pollInterval
            let settings = OnboardingWorker.Settings(pollInterval: configuration.onboarding.pollInterval,
                                                     concurrency: configuration.onboarding.concurrency,
                                                     drainSeconds: configuration.shutdownGraceSeconds)
            worker = OnboardingWorker(onboarding: onboarding, settings: settings, logger: logger)
            workerLine = "onboarding worker: records in \(store.folder), checking every \(Int(settings.pollInterval)) s, "
                + "\(settings.concurrency) at once, VB365 \(client.configuration.serverURL)"
        }
        return ServePreparation(lock: lock, worker: worker, workerLine: workerLine)
    }
}
