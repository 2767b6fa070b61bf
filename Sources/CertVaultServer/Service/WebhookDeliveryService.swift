public import CertVaultWebhooks
public import Logging
public import ServiceLifecycle
import Foundation
import Synchronization

/// The webhook deliverer as a service of `certvault serve`'s ServiceGroup.
///
/// It makes a delivery pass (``WebhookDeliverer/deliverDue(while:)``, on a thread of its own:
/// libcurl blocks) as soon as an event is recorded, when the next retry is due, and at least
/// every ``pollInterval`` seconds. On graceful shutdown it finishes the attempt in flight, starts
/// no other, and returns: what is pending stays in the outbox for the next start. Each attempt is
/// counted in `certvault_webhook_deliveries_total{result}`; the outbox's pending and parked counts
/// are gauges.
public final class WebhookDeliveryService: Service, Sendable {
    /// The deliverer (its outbox is `AppServices.events`).
    public let deliverer: WebhookDeliverer
    /// The longest time between two passes, in seconds.
    public let pollInterval: Double
    private let metrics: ServiceMetrics?
    private let logger: Logger
    private let signal = WakeSignal()
    private let stopping = Mutex(false)

    /// A service for `deliverer`; it wakes whenever its outbox records an event.
    public init(deliverer: WebhookDeliverer, pollInterval: Double = 1, metrics: ServiceMetrics? = .shared, logger: Logger) {
        self.deliverer = deliverer
        self.pollInterval = max(0.01, pollInterval)
        self.metrics = metrics
        self.logger = logger
        metrics?.defineWebhookMetrics()
        deliverer.outbox.onRecord { [signal] in signal.signal() }
    }

    /// Makes a pass now instead of at the next poll.
    public func wake() { signal.signal() }

    public func run() async throws {
        let outbox = deliverer.outbox
        logger.info("webhooks: \(outbox.receivers.count) receiver(s), outbox \(outbox.path), \(outbox.pendingCount()) pending")
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await loop()
            } onCancel: {
                stopping.withLock { $0 = true }
                signal.signal()
            }
        } onGracefulShutdown: { [self] in
            stopping.withLock { $0 = true }
            signal.signal()
        }
        logger.info("webhooks: stopped; \(outbox.pendingCount()) delivery(ies) pending for the next start")
    }

    private func loop() async {
        let deliverer = self.deliverer
        let outbox = deliverer.outbox
        while !stopping.withLock({ $0 }) {
            let attempts = await Self.onThread { [self] in
                deliverer.deliverDue(while: { !self.stopping.withLock { $0 } })
            }
            if let metrics { for attempt in attempts { Self.count(attempt, in: metrics) } }
            metrics?.webhookOutbox(pending: outbox.pendingCount(), parked: outbox.deadCount())
            if self.stopping.withLock({ $0 }) { break }
            let untilDue = (outbox.nextDueTime() ?? .infinity) - Date().timeIntervalSince1970
            await signal.wait(seconds: min(pollInterval, max(0.005, untilDue)))
        }
    }

    /// Counts an attempt in the metrics: for the deliverer's observer.
    public static func count(_ attempt: WebhookDeliverer.Attempt, in metrics: ServiceMetrics = .shared) {
        switch attempt.outcome {
        case .delivered: metrics.webhookDelivery(.delivered)
        case .retrying: metrics.webhookDelivery(.failed)
        case .parked: metrics.webhookDelivery(.parked)
        }
    }

    /// Runs blocking work on a thread of its own and waits for it without holding a thread of
    /// the cooperative pool.
    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }
}

/// A wake-up that is not lost when it comes before the wait: ``wait(seconds:)`` returns at the
/// first ``signal()`` since the last wait returned, or after the time given.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func wait(seconds: Double) async {
        let timer = Task { [self] in
            guard (try? await Task.sleep(for: .seconds(seconds))) != nil else { return }
            signal()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
    }
}
