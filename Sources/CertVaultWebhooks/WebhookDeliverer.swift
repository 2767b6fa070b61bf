internal import CertVaultCore
public import CertVaultHTTP
public import CertVaultOnboarding
public import Logging
internal import Foundation
internal import Synchronization

/// Delivers the outbox's due events: each one signed (``WebhookSigner``) and POSTed with the
/// libcurl client (``HTTPClient``) and its trust options.
///
/// - A 2xx answer delivers the event: its file is removed.
/// - Anything else (another status, no connection, a timeout after ``Settings/timeout`` seconds)
///   is a failed attempt: the next one waits ``Settings/backoff(afterFailures:)`` seconds
///   (doubling from ``Settings/initialBackoff`` up to ``Settings/maximumBackoff``) times a
///   random factor within ±``Settings/jitter``.
/// - After ``Settings/maxAttempts`` failed attempts the event is parked in `dead/` with its last
///   error (logged as an error; docs/webhooks.md says how to re-queue it).
///
/// Delivery is at least once: an event whose 2xx answer was lost is sent again, with the same
/// `Certvault-Event-Id`. Each attempt is signed afresh, with its own timestamp.
///
/// ``deliverDue()`` blocks (libcurl): call it off Swift's cooperative pool and NIO's event loops,
/// one call at a time.
public final class WebhookDeliverer: Sendable {
    /// How deliveries are made and retried.
    public struct Settings: Sendable, Hashable {
        /// Seconds for one attempt, connection included.
        public var timeout: Double
        /// Attempts per event before it is parked in `dead/`.
        public var maxAttempts: Int
        /// The wait after the first failed attempt, in seconds.
        public var initialBackoff: Double
        /// The longest wait between two attempts, in seconds.
        public var maximumBackoff: Double
        /// The random spread of each wait: 0.2 is ±20 %.
        public var jitter: Double
        /// How receivers' TLS certificates are trusted.
        public var trust: HTTPTrust
        /// Whether plain `http://` to a loopback receiver is allowed.
        public var allowPlainHTTPLoopback: Bool
        /// The most deliveries one pass makes.
        public var batchLimit: Int

        /// Defaults: 10 s per attempt, 12 attempts, waits of 10 s doubling up to an hour (about
        /// 3.4 hours from the first attempt to the last), ±20 %, the system's CA store, HTTPS only.
        public init(timeout: Double = 10, maxAttempts: Int = 12, initialBackoff: Double = 10, maximumBackoff: Double = 3600,
                    jitter: Double = 0.2, trust: HTTPTrust = .systemStore, allowPlainHTTPLoopback: Bool = false, batchLimit: Int = 100) {
            self.timeout = timeout
            self.maxAttempts = max(1, maxAttempts)
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.jitter = min(max(jitter, 0), 0.9)
            self.trust = trust
            self.allowPlainHTTPLoopback = allowPlainHTTPLoopback
            self.batchLimit = max(1, batchLimit)
        }

        /// The wait after `failures` failed attempts (1 or more), before jitter.
        public func backoff(afterFailures failures: Int) -> Double {
            let exponent = Double(min(max(failures, 1), 40) - 1)
            return min(maximumBackoff, initialBackoff * pow(2, exponent))
        }

        /// The client configuration for these settings.
        public var clientConfiguration: HTTPClient.Configuration {
            HTTPClient.Configuration(trust: trust, connectTimeout: min(timeout, 10), totalTimeout: timeout,
                                     maximumResponseBytes: 64 << 10, allowPlainHTTPToLoopback: allowPlainHTTPLoopback,
                                     userAgent: "certvault-webhooks/0.1.0")
        }
    }

    /// How one attempt ended.
    public enum Outcome: Sendable, Hashable {
        /// The receiver answered 2xx.
        case delivered(status: Int)
        /// It failed; the next attempt is in `retryIn` seconds.
        case retrying(reason: String, retryIn: Double)
        /// It failed for the last time (or its receiver is no longer configured): parked in `dead/`.
        case parked(reason: String)
    }

    /// One attempt, for logs, metrics and tests.
    public struct Attempt: Sendable, Hashable {
        public var eventID: String
        public var kind: LifecycleEvent.Kind
        /// The receiver's key (``WebhookOutbox/receiverKey(_:)``), never its URL.
        public var receiver: String
        /// 1 for the first attempt.
        public var number: Int
        public var outcome: Outcome
        /// Seconds from the event's recording to this attempt's end.
        public var sinceRecorded: Double
    }

    public let outbox: WebhookOutbox
    public let settings: Settings
    private let signer: WebhookSigner
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let client: Mutex<HTTPClient>
    private let observer: @Sendable (Attempt) -> Void

    /// A deliverer for `outbox`.
    ///
    /// - Parameters:
    ///   - clock: Unix time in seconds (tests control it).
    ///   - observer: called after every attempt (metrics).
    /// - Throws: ``CertVaultError`` when libcurl cannot make a handle.
    public init(outbox: WebhookOutbox, signer: WebhookSigner, settings: Settings, logger: Logger,
                clock: @escaping @Sendable () -> Double = WebhookClock.now,
                observer: @escaping @Sendable (Attempt) -> Void = { _ in }) throws {
        self.outbox = outbox
        self.signer = signer
        self.settings = settings
        self.logger = logger
        self.clock = clock
        self.observer = observer
        client = Mutex(try HTTPClient(configuration: settings.clientConfiguration, logger: logger))
    }

    /// Makes every due delivery once (up to ``Settings/batchLimit``) and returns what happened.
    /// Blocks for the network; never throws: an outbox that cannot be updated is logged.
    ///
    /// - Parameter shouldContinue: asked before each delivery; false stops the pass (shutdown),
    ///   leaving the rest pending.
    @discardableResult
    public func deliverDue(while shouldContinue: () -> Bool = { true }) -> [Attempt] {
        let due = outbox.due(now: clock(), limit: settings.batchLimit)
        var attempts: [Attempt] = []
        for pending in due {
            guard shouldContinue() else { break }
            let attempt = deliver(pending)
            attempts.append(attempt)
            observer(attempt)
        }
        return attempts
    }

    private func deliver(_ pending: WebhookOutbox.Pending) -> Attempt {
        var entry = pending.entry
        let receiver = WebhookOutbox.receiverKey(entry.receiver)
        let shown = Self.display(entry.receiver)
        let number = entry.attempts + 1
        func attempt(_ outcome: Outcome) -> Attempt {
            Attempt(eventID: entry.event.id, kind: entry.event.kind, receiver: receiver, number: number, outcome: outcome,
                    sinceRecorded: max(0, clock() - entry.recordedAt))
        }
        guard outbox.receivers.contains(entry.receiver) else {
            let reason = "receiver \(receiver) (\(shown)) is no longer in [webhooks] urls"
            entry.lastError = reason
            store { try outbox.park(pending.name, entry: entry) }
            logger.error("webhook: gave up on \(entry.event.kind.rawValue) \(entry.event.id): \(reason); parked in \(outbox.deadPath)/\(pending.name)")
            return attempt(.parked(reason: reason))
        }
        let failure: String
        do {
            let response = try client.withLock { client in
                try Self.send(entry.event, to: entry.receiver, signer: signer, client: client, attempt: number,
                              timestamp: Int64(clock().rounded(.down)))
            }
            if (200..<300).contains(response.status) {
                store { try outbox.markDelivered(pending.name) }
                logger.info("webhook: delivered \(entry.event.kind.rawValue) \(entry.event.id) to \(receiver) (attempt \(number), status \(response.status))")
                return attempt(.delivered(status: response.status))
            }
            failure = "the receiver answered \(response.status)" + Self.excerpt(response.body)
        } catch let error as CertVaultError {
            failure = Self.scrub(error.reason + (error.underlying.map { " (\($0))" } ?? ""), url: entry.receiver, shown: shown)
        } catch {
            failure = "\(type(of: error))"
        }
        entry.attempts = number
        entry.lastError = failure
        if number >= settings.maxAttempts {
            store { try outbox.park(pending.name, entry: entry) }
            logger.error("webhook: gave up on \(entry.event.kind.rawValue) \(entry.event.id) for receiver \(receiver) (\(shown)) after \(number) attempts: \(failure); parked in \(outbox.deadPath)/\(pending.name) (docs/webhooks.md: how to re-queue)")
            return attempt(.parked(reason: failure))
        }
        let factor = settings.jitter > 0 ? Double.random(in: (1 - settings.jitter)...(1 + settings.jitter)) : 1
        let wait = settings.backoff(afterFailures: number) * factor
        entry.nextAttemptAt = clock() + wait
        store { try outbox.reschedule(pending.name, entry: entry) }
        logger.warning("webhook: \(entry.event.kind.rawValue) \(entry.event.id) to receiver \(receiver) (\(shown)) failed (attempt \(number) of \(settings.maxAttempts)): \(failure); again in \(String(format: "%.1f", wait)) s")
        return attempt(.retrying(reason: failure, retryIn: wait))
    }

    private func store(_ body: () throws -> Void) {
        do {
            try body()
        } catch {
            logger.error("webhook outbox: cannot update \(outbox.pendingPath): \(error)")
        }
    }

    /// Sends `event` to `url` once, signed with `timestamp`, and returns the receiver's answer
    /// (any status). For the deliverer and `certvault webhook test`.
    ///
    /// - Throws: ``CertVaultError`` from the client (no connection, TLS, timeout, a URL not allowed).
    public static func send(_ event: LifecycleEvent, to url: String, signer: WebhookSigner, client: HTTPClient, attempt: Int,
                            timestamp: Int64) throws -> HTTPResponse {
        let body = try WebhookPayload.body(event)
        let request = HTTPRequest(method: "POST", url: url, headers: signer.headers(for: event, body: body, timestamp: timestamp, attempt: attempt),
                                  body: body)
        return try client.send(request)
    }

    /// A receiver's URL as logs may show it: scheme, host and port; the path and query (which
    /// may hold a secret, as in many chat webhooks) shown as `/…`.
    public static func display(_ url: String) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return "(not a URL)" }
        let port = parsed.port.map { ":\($0)" } ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let rest = parsed.path.isEmpty || parsed.path == "/" ? (parsed.query == nil ? "" : "/…") : "/…"
        return "\(scheme)://\(bracketed)\(port)\(rest)"
    }

    /// `text` with the full URL replaced by its displayable form.
    static func scrub(_ text: String, url: String, shown: String) -> String {
        text.replacingOccurrences(of: url, with: shown)
    }

    /// The start of a receiver's error body, control characters escaped, for the last error.
    static func excerpt(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "" }
        let text = DisplayText.escapingControls(String(decoding: body.prefix(200), as: UTF8.self), limit: 120)
        return ": \(text)"
    }
}
