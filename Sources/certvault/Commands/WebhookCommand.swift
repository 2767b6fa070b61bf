import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultHTTP
import CertVaultOnboarding
import CertVaultServer
import CertVaultWebhooks
import Foundation
import Logging

/// `certvault webhook ...`: the service's webhooks from the command line.
struct WebhookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Send a signed sample event to a webhook receiver (docs/webhooks.md).",
        subcommands: [WebhookTestCommand.self]
    )
}

/// `certvault webhook test URL`: one signed `test` event, sent now, the receiver's status printed.
struct WebhookTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "POST a signed 'test' event to URL and print the receiver's answer.",
        discussion: """
            Uses the configuration's [webhooks] signing key (secret_file, secret_fd or secret_credential), \
            ca_file, allow_plain_http_loopback and timeout, the same signer and libcurl client as \
            'certvault serve', without the outbox: one attempt, now. Exits 0 when the receiver answers \
            2xx, 1 otherwise. Example: certvault webhook test https://ops.example.com/certvault-events \
            --config /etc/certvault/certvault.toml
            """
    )

    @Argument(help: ArgumentHelp("The receiver's URL (need not be in [webhooks] urls).", valueName: "url"))
    var url: String

    @OptionGroup var file: ConfigurationFileOptions
    @OptionGroup var logging: LoggingOptions

    func run() throws {
        let logger = logging.makeLogger("certvault.webhook")
        let configuration = try file.load()
        guard let source = configuration.webhooks.secret else {
            throw CertVaultError(
                .invalidInput, "There is no webhook signing key in the configuration.",
                hint: "Set [webhooks] secret_file = \"PATH\" (or CERTVAULT_WEBHOOK_SECRET_FILE) to a file of at least 32 random bytes, "
                    + "e.g. made with 'openssl rand -hex 32', and give --config FILE.")
        }
        let signer = try WebhookSigner.load(from: source)
        let settings = WebhookDeliverer.Settings(configuration.webhooks)
        let client = try HTTPClient(configuration: settings.clientConfiguration, logger: logger)
        let event = LifecycleEvent(kind: .test, tenant: nil, occurredAt: UTCTime.dateTime(UTCTime.now()),
                                   data: ["message": "A sample event from 'certvault webhook test'."])
        let shown = WebhookDeliverer.display(url)
        let started = Date()
        let response: HTTPResponse
        do {
            response = try WebhookDeliverer.send(event, to: url, signer: signer, client: client, attempt: 1, timestamp: UTCTime.now())
        } catch let error as CertVaultError {
            throw CertVaultError(error.code, error.reason.replacingOccurrences(of: url, with: shown), hint: error.hint,
                                 underlying: error.underlying)
        }
        let milliseconds = Int(Date().timeIntervalSince(started) * 1000)
        guard (200..<300).contains(response.status) else {
            let answer = String(decoding: response.body.prefix(200), as: UTF8.self)
            let excerpt = answer.isEmpty ? "" : ": \(DisplayText.escapingControls(answer, limit: 120))"
            throw CertVaultError(
                .webhookDeliveryFailed, "The receiver at \(shown) answered \(response.status)\(excerpt).",
                hint: response.status == 401 || response.status == 403
                    ? "The receiver refused the request: check that it verifies with the same key as [webhooks] secret_file "
                        + "and that its clock is right (docs/webhooks.md, 'Verifying a signature')."
                    : "See the receiver's own log; certvault sent event \(event.id) (type test).")
        }
        Terminal.out("The receiver at \(shown) answered \(response.status) in \(milliseconds) ms (event \(event.id), type test).\n")
    }
}

extension WebhookDeliverer.Settings {
    /// The deliverer's settings from the configuration's `[webhooks]` table.
    init(_ webhooks: ServiceConfiguration.WebhookSettings) {
        self.init(timeout: Double(webhooks.timeout), maxAttempts: webhooks.maxAttempts,
                  trust: webhooks.caFile.map { .caFile($0) } ?? .systemStore, allowPlainHTTPLoopback: webhooks.allowPlainHTTPLoopback)
    }
}

/// What `serve` makes for webhooks.
enum WebhookWiring {
    /// The deliverer over the durable outbox when `[webhooks] urls` are configured, else nil.
    ///
    /// - Throws: the signing key's errors (unreadable, shorter than 32 bytes), the outbox folder's.
    static func prepare(_ configuration: ServiceConfiguration, storage: ServiceStorage? = nil, logger: Logger) throws -> WebhookDeliverer? {
        let webhooks = configuration.webhooks
        guard !webhooks.urls.isEmpty, let source = webhooks.secret else { return nil }
        let signer = try WebhookSigner.load(from: source)
        let outbox = try (storage ?? ServiceStorage(database: nil))
            .webhookOutbox(path: configuration.webhookOutboxPath, receivers: webhooks.urls, logger: logger)
        // WebhookDeliveryService counts each attempt in the metrics.
        return try WebhookDeliverer(outbox: outbox, signer: signer, settings: WebhookDeliverer.Settings(webhooks), logger: logger)
    }
}
