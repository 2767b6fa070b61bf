import CertVaultCore
import CertVaultOnboarding
import CertVaultTesting
import Foundation
import Testing

@testable import CertVaultWebhooks

@Suite("docs/webhooks.md", .serialized,
       .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired, "python3 is not installed"))
struct DocSnippetTests {
    /// The Python block after the `verify-python` marker, as the documentation shows it.
    static func pythonSnippet() throws -> String {
        let doc = try String(contentsOfFile: "\(TestEnvironment.packageRoot)/docs/webhooks.md", encoding: .utf8)
        let marker = try #require(doc.range(of: "<!-- verify-python"))
        let start = try #require(doc.range(of: "```python\n", range: marker.upperBound..<doc.endIndex))
        let end = try #require(doc.range(of: "\n```", range: start.upperBound..<doc.endIndex))
        return String(doc[start.upperBound..<end.lowerBound])
    }

    @Test("the Python verification snippet accepts a request certvault really sent, and refuses a changed or old one")
    func pythonSnippetVerifies() throws {
        let world = try DeliveryWorld()
        let receiver = try world.receiver("ok")
        let outbox = try world.outbox([receiver.url])
        try outbox.record(LifecycleEvent(kind: .test, tenant: nil, occurredAt: UTCTime.dateTime(UTCTime.now()),
                                         data: ["message": "a sample from certvault"]))
        #expect(try world.deliverer(outbox).deliverDue().count == 1)
        // What the receiver got: the signature header and the raw body, as the snippet's caller has them.
        let request = try #require(try receiver.requests().first)
        let body = Array(request.body.utf8)
        let header = request.signature
        #expect(header.hasPrefix("t="))
        let now = Int64(Date().timeIntervalSince1970)
        let old = world.signer.signatureHeader(timestamp: now - 600, body: body)
        let bodyFile = try world.directory.write("body.json", bytes: body)
        let harness = try Self.pythonSnippet() + """


            import sys
            key = open(sys.argv[1], "rb").read().rstrip(b"\\n")
            body = open(sys.argv[2], "rb").read()
            print(verify(key, sys.argv[3], body), verify(key, sys.argv[3], body + b" "), verify(key, sys.argv[4], body),
                  verify(b"another key of at least 32 bytes!!", sys.argv[3], body))
            """
        let script = try world.directory.write("verify.py", harness)
        let output = try ExternalTool.python3.run([script, world.keyFile, bodyFile, header, old])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "True False False False")
        #expect(request.signatureValid, "the receiver checked the delivered request's own signature too")
    }
}
