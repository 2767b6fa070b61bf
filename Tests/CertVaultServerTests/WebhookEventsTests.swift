import CertVaultAccess
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultTesting
import CertVaultVB365Simulator
import CertVaultWebhooks
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The service's webhooks: onboarding events recorded by the API and the worker's observer,
/// delivered by the delivery service.
@Suite("Webhook events from the service", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct WebhookEventsTests {
    static let executor = DedicatedThreadExecutor(name: "webhook-delivery-tests")
    static let keyText = "service-webhook-key-" + String(repeating: "x", count: 24)

    struct Setup {
        let world: APIWorld
        let receiver: WebhookReceiver
        let outbox: WebhookOutbox
        let deliverer: WebhookDeliverer
        let services: AppServices
    }

    static func setup() throws -> Setup {
        let world = try APIWorld()
        let keyFile = try world.dir.write("webhook.key", keyText)
        let receiver = try WebhookReceiver(directory: world.dir, keyFile: keyFile, mode: "ok")
        let outbox = try WebhookOutbox(path: world.dir.file("webhooks"), receivers: [receiver.url], logger: APIWorld.logger)
        let deliverer = try WebhookDeliverer(
            outbox: outbox, signer: try WebhookSigner.load(from: .file(keyFile)),
            settings: .init(timeout: 5, initialBackoff: 0.05, allowPlainHTTPLoopback: true), logger: APIWorld.logger)
        var services = world.services
        services.events = outbox
        return Setup(world: world, receiver: receiver, outbox: outbox, deliverer: deliverer, services: services)
    }

    @Test("starting an onboarding and renewing its code each send onboarding.code_issued; the worker's outcome sends completed; no body holds a secret")
    func onboardingEvents() async throws {
        let setup = try Self.setup()
        let token = try setup.world.tokens.add(scopes: [.onboardingWrite, .onboardingRead])
        let app = Application(router: buildRouter(services: setup.services, logger: APIWorld.logger), logger: APIWorld.logger)
        try await app.test(.router) { client in
            let started = try await client.call(.post, "/v1/onboardings", token: token,
                                                json: #"{"tenant": "northwind", "organizationName": "northwind.onmicrosoft.com"}"#)
            #expect(started.status == .accepted)
            let renewed = try await client.call(.post, "/v1/onboardings/northwind/renew-code", token: token)
            #expect(renewed.status == .ok)
        }
        #expect(setup.outbox.pendingCount() == 2, "recorded before the responses went out")

        // The worker carries the tenant to onboarded; its observer records the outcome.
        let tenant = try TenantID("northwind")
        let record = try #require(try setup.world.services.onboardingStore.load(tenant))
        let userCode = try #require(record.userCode)
        _ = setup.world.simulator.signIn(userCode: userCode)
        let done = try setup.world.onboarding.resume(tenant)
        #expect(done.state == .onboarded)
        let observer = OnboardingEvents.workerObserver(store: setup.world.services.onboardingStore, events: setup.outbox,
                                                       logger: APIWorld.logger)
        observer(.progressed(tenant, .awaitingCustomer))
        observer(.progressed(tenant, .onboarded))
        #expect(setup.outbox.pendingCount() == 3)

        #expect(setup.deliverer.deliverDue().count == 3)
        let requests = try setup.receiver.requests()
        #expect(requests.map(\.type) .sorted() == ["onboarding.code_issued", "onboarding.code_issued", "onboarding.completed"])
        #expect(requests.allSatisfy { $0.signatureValid && $0.status == 200 })
        #expect(Set(requests.map(\.id)).count == 3)
        let completed = try #require(requests.first { $0.type == "onboarding.completed" })
        #expect(completed.body.contains(#""tenant":"northwind""#))
        #expect(completed.body.contains(done.organizationId ?? "missing"))
        // The secrets of this test: the API token, VB365's password, the device codes, the webhook key.
        let secrets = [token, APIWorld.password, userCode, Self.keyText, TestTokens.accessor(of: token)]
        for request in requests {
            for secret in secrets { #expect(!request.body.contains(secret), "a body holds \(secret)") }
        }
    }

    @Test("with no webhooks configured, the API records nothing and still answers")
    func discardedWithoutWebhooks() async throws {
        let world = try APIWorld()
        #expect(world.services.events is DiscardingEventSink)
        let token = try world.tokens.add(scopes: [.onboardingWrite])
        try await world.app().test(.router) { client in
            let started = try await client.call(.post, "/v1/onboardings", token: token,
                                                json: #"{"tenant": "litware", "organizationName": "litware.onmicrosoft.com"}"#)
            #expect(started.status == .accepted)
        }
    }

    @Test("the delivery service sends a recorded event at once, and on shutdown leaves what it could not deliver")
    func deliveryService() async throws {
        let setup = try Self.setup()
        let metrics = ServiceMetrics()
        let service = WebhookDeliveryService(deliverer: setup.deliverer, pollInterval: 30, metrics: metrics, logger: APIWorld.logger)
        let running = Task(executorPreference: Self.executor) { try await service.run() }
        let started = Date()
        try setup.outbox.record(LifecycleEvent(kind: .test, tenant: nil, occurredAt: UTCTime.dateTime(UTCTime.now())))
        var delivered = false
        // Well under the 30 s poll interval: the wake-up, not the poll, delivered it (a loaded machine
        // can take seconds; the latency itself is measured by `certvault-bench webhooks`).
        while Date().timeIntervalSince(started) < 25 {
            if try setup.receiver.requests().count == 1 { delivered = true; break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(delivered, "delivered without waiting for the 30 s poll")

        // The receiver goes away: the next event fails and stays pending through the stop.
        setup.receiver.stop()
        try setup.outbox.record(LifecycleEvent(kind: .test, tenant: nil, occurredAt: UTCTime.dateTime(UTCTime.now())))
        let failing = Date()
        while Date().timeIntervalSince(failing) < 10, !metrics.text().contains(#"certvault_webhook_deliveries_total{result="failed"} 1"#) {
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        try await running.value
        #expect(setup.outbox.pendingCount() == 1, "left for the next start")
        let text = metrics.text()
        #expect(text.contains(#"certvault_webhook_deliveries_total{result="delivered"} 1"#))
        #expect(text.contains(#"certvault_webhook_deliveries_total{result="failed"} 1"#))
        #expect(text.contains("certvault_webhook_pending 1"))
        #expect(text.contains("certvault_webhook_parked 0"))
    }
}
