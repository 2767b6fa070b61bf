import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Logging
import Testing

@testable import CertVaultWebhooks

/// One test's outbox, key and receiver.
struct DeliveryWorld {
    let directory: TemporaryDirectory
    let keyFile: String
    let signer: WebhookSigner
    let clock = ManualClock()
    let log = CollectedLog()
    static let keyText = "k3y-" + String(repeating: "5ecret", count: 8)

    init() throws {
        directory = try TemporaryDirectory()
        keyFile = try directory.write("webhook.key", Self.keyText)
        signer = try WebhookSigner.load(from: .file(keyFile))
    }

    var outboxPath: String { directory.file("outbox") }

    func receiver(_ mode: String) throws -> WebhookReceiver {
        try WebhookReceiver(directory: directory, keyFile: keyFile, mode: mode)
    }

    func outbox(_ receivers: [String]) throws -> WebhookOutbox {
        try WebhookOutbox(path: outboxPath, receivers: receivers, logger: log.logger, clock: clock.function)
    }

    func deliverer(_ outbox: WebhookOutbox, maxAttempts: Int = 12, timeout: Double = 5) throws -> WebhookDeliverer {
        let settings = WebhookDeliverer.Settings(timeout: timeout, maxAttempts: maxAttempts, initialBackoff: 10, maximumBackoff: 60,
                                                 jitter: 0.2, allowPlainHTTPLoopback: true)
        return try WebhookDeliverer(outbox: outbox, signer: signer, settings: settings, logger: log.logger, clock: clock.function)
    }

    static func event(_ kind: LifecycleEvent.Kind = .onboardingCompleted, tenant: String = "contoso") -> LifecycleEvent {
        LifecycleEvent(kind: kind, tenant: try! TenantID(tenant), occurredAt: UTCTime.dateTime(UTCTime.now()),
                       data: ["state": "onboarded", "organizationName": "contoso.onmicrosoft.com"])
    }
}

@Suite("Webhook delivery", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct DeliveryTests {
    @Test("a receiver that answers 500 twice gets the event once, signed, after the backoff")
    func retriedUntilAccepted() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("fail:2")
        let outbox = try world.outbox([receiver.url])
        let deliverer = try world.deliverer(outbox)
        let event = DeliveryWorld.event()
        try outbox.record(event)
        #expect(outbox.pendingCount() == 1)

        let first = deliverer.deliverDue()
        let firstWait = try #require(first.first.flatMap { attempt -> Double? in
            if case .retrying(_, let wait) = attempt.outcome { wait } else { nil }
        })
        #expect(firstWait >= 8 && firstWait <= 12)
        #expect(deliverer.deliverDue().isEmpty, "nothing is due before the backoff has passed")
        world.clock.advance(firstWait + 0.01)
        let second = deliverer.deliverDue()
        let secondWait = try #require(second.first.flatMap { attempt -> Double? in
            if case .retrying(_, let wait) = attempt.outcome { wait } else { nil }
        })
        #expect(secondWait >= 16 && secondWait <= 24, "the wait doubles")
        world.clock.advance(secondWait + 0.01)
        let third = deliverer.deliverDue()
        #expect(third.map(\.outcome) == [.delivered(status: 200)])
        #expect(third.first?.number == 3)
        world.clock.advance(3600)
        #expect(deliverer.deliverDue().isEmpty)

        let requests = try receiver.requests()
        #expect(requests.map(\.status) == [500, 500, 200])
        #expect(requests.allSatisfy { $0.signatureValid && $0.id == event.id && $0.type == "onboarding.completed" })
        #expect(requests.map(\.attempt) == ["1", "2", "3"])
        #expect(requests.filter { $0.status == 200 }.count == 1, "delivered once per id")
        #expect(outbox.pendingCount() == 0)
        #expect(PrivateFiles.names(in: outbox.pendingPath).isEmpty)
        let body = try #require(requests.last?.body)
        let decoded = try JSONDecoder().decode(LifecycleEvent.self, from: Data(body.utf8))
        #expect(decoded == event)
    }

    @Test("every receiver gets every event once; recording the same event again changes nothing")
    func fanOut() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("ok")
        let urls = [receiver.url + "/a", receiver.url + "/b"]
        let outbox = try world.outbox(urls)
        let deliverer = try world.deliverer(outbox)
        let event = DeliveryWorld.event()
        try outbox.record(event)
        try outbox.record(event)
        #expect(outbox.pendingCount() == 2)
        #expect(deliverer.deliverDue().count == 2)
        #expect(deliverer.deliverDue().isEmpty)
        let requests = try receiver.requests()
        #expect(requests.map(\.path).sorted() == ["/hooks/a", "/hooks/b"])
        #expect(requests.allSatisfy { $0.id == event.id && $0.signatureValid && $0.status == 200 })
    }

    @Test("the outbox is durable: a new deliverer over the same folder delivers what was pending, attempts kept")
    func restart() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("fail:1")
        let events = [DeliveryWorld.event(), DeliveryWorld.event(.onboardingFailed), DeliveryWorld.event(.onboardingCodeIssued)]
        do {
            let outbox = try world.outbox([receiver.url])
            for event in events { try outbox.record(event) }
            let attempts = try world.deliverer(outbox).deliverDue()
            #expect(attempts.count == 3)
            #expect(attempts.allSatisfy { if case .retrying = $0.outcome { true } else { false } })
        }
        // "Restart": nothing survives but the folder.
        let outbox = try world.outbox([receiver.url])
        #expect(outbox.pendingCount() == 3)
        let deliverer = try world.deliverer(outbox)
        #expect(deliverer.deliverDue().isEmpty, "the backoff survives the restart")
        world.clock.advance(13)
        let attempts = deliverer.deliverDue()
        #expect(attempts.map(\.outcome) == Array(repeating: .delivered(status: 200), count: 3))
        #expect(attempts.allSatisfy { $0.number == 2 })
        let delivered = try receiver.requests().filter { $0.status == 200 }.map(\.id).sorted()
        #expect(delivered == events.map(\.id).sorted())
    }

    @Test("outbox folders are 0700 and event files 0600")
    func permissions() throws {
        let world = try DeliveryWorld()
        let outbox = try world.outbox(["https://hooks.example.com/x"])
        try outbox.record(DeliveryWorld.event())
        #expect(try TemporaryDirectory.mode(outbox.path) == 0o700)
        #expect(try TemporaryDirectory.mode(outbox.pendingPath) == 0o700)
        #expect(try TemporaryDirectory.mode(outbox.deadPath) == 0o700)
        let name = try #require(PrivateFiles.names(in: outbox.pendingPath).first)
        #expect(try TemporaryDirectory.mode("\(outbox.pendingPath)/\(name)") == 0o600)
    }

    @Test("a corrupt outbox file is moved aside with a clear log line; the other events still go")
    func corruptFile() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("ok")
        let outbox = try world.outbox([receiver.url])
        let event = DeliveryWorld.event()
        try outbox.record(event)
        try PrivateFiles.writeNewFile("\(outbox.pendingPath)/0000000000000000-garbage.json", bytes: Array("{\"event\": 1".utf8))
        let attempts = try world.deliverer(outbox).deliverDue()
        #expect(attempts.map(\.eventID) == [event.id])
        #expect(PrivateFiles.names(in: outbox.pendingPath).isEmpty)
        let aside = PrivateFiles.names(in: outbox.corruptPath)
        #expect(aside.count == 1 && aside[0].hasPrefix("0000000000000000-garbage.json-"))
        #expect(world.log.messages.contains { $0.contains("is not a readable event") && $0.contains("moved it to") })
    }

    @Test("a receiver that does not answer in time is an attempt that failed; the event stays pending")
    func timeout() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("sleep:4")
        let outbox = try world.outbox([receiver.url])
        try outbox.record(DeliveryWorld.event())
        let start = Date()
        let attempts = try world.deliverer(outbox, timeout: 1).deliverDue()
        #expect(Date().timeIntervalSince(start) < 3.5)
        guard case .retrying(let reason, _)? = attempts.first?.outcome else {
            Issue.record("expected a retry, got \(attempts)")
            return
        }
        #expect(reason.lowercased().contains("timed out") || reason.lowercased().contains("timeout"))
        #expect(outbox.pendingCount() == 1)
        #expect(!reason.contains("/hooks"), "the receiver's path is not in the error")
    }

    @Test("after max_attempts an event is parked in dead/ with its last error; moved back, it is delivered again")
    func parkedAndRequeued() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("fail:2")
        let outbox = try world.outbox([receiver.url])
        let deliverer = try world.deliverer(outbox, maxAttempts: 2)
        try outbox.record(DeliveryWorld.event())
        deliverer.deliverDue()
        world.clock.advance(13)
        let last = deliverer.deliverDue()
        #expect(last.map(\.outcome) == [.parked(reason: "the receiver answered 500: nope")])
        #expect(outbox.pendingCount() == 0)
        #expect(outbox.deadCount() == 1)
        let name = try #require(PrivateFiles.names(in: outbox.deadPath).first)
        let parked = try OutboxEntry.decode(Array(try #require(FileManager.default.contents(atPath: "\(outbox.deadPath)/\(name)"))))
        #expect(parked.lastError == "the receiver answered 500: nope")
        #expect(parked.attempts == 2)
        #expect(world.log.messages.contains { $0.contains("gave up on") && $0.contains("re-queue") })

        // docs/webhooks.md: mv dead/NAME pending/
        #expect(rename("\(outbox.deadPath)/\(name)", "\(outbox.pendingPath)/\(name)") == 0)
        let again = deliverer.deliverDue()
        #expect(again.map(\.outcome) == [.delivered(status: 200)])
        #expect(again.first?.number == 1, "a re-queued event gets a fresh set of attempts")
    }

    @Test("an event for a receiver no longer configured is parked, not sent")
    func removedReceiver() throws {
        let world = try DeliveryWorld()
        try world.outbox(["https://old.example.com/hook"]).record(DeliveryWorld.event())
        let outbox = try world.outbox(["https://new.example.com/hook"])
        let attempts = try world.deliverer(outbox).deliverDue()
        guard case .parked(let reason)? = attempts.first?.outcome else {
            Issue.record("expected parked, got \(attempts)")
            return
        }
        #expect(reason.contains("no longer in [webhooks] urls"))
        #expect(!reason.contains("/hook"))
        #expect(outbox.deadCount() == 1)
    }
}
