import CertVaultTesting
import CertVaultVB365Simulator
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("certvault serve: stopped while POST Organizations is in flight, the onboarding ends once", .serialized)
struct ServeShutdownTests {
    /// Starts an onboarding with the CLI, lets the customer sign in while VB365 holds its answer
    /// to `POST Organizations`, stops the service with `signal` while the POST is in flight, and
    /// starts it again.
    @Test("SIGTERM (grace shorter than the add) or SIGKILL during the add: after restart, one organization and the tenant onboarded",
          arguments: [SIGTERM, SIGKILL])
    func stopDuringAdd(signal: Int32) throws {
        let world = try ServeWorld(grace: 1)
        let start = try world.run(["onboard", "start", "mike", "--org-name", "mike.onmicrosoft.com", "--display-name", "Mike", "--json"])
        #expect(start.status == 0, "\(start.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(start.stdout.utf8)) as? [String: Any])
        let code = try #require(record["userCode"] as? String)

        // VB365 carries the add out at once but answers only after 8 s.
        world.simulator.delay("POST Organizations", seconds: 8)
        let serve = try world.serve()
        _ = try serve.ready()
        world.simulator.signIn(userCode: code)
        #expect(waitUntil { world.state("mike") == "adding-organization" }, "the worker sent the add")
        #expect(waitUntil { world.posts() == 1 })
        serve.signal(signal)
        let status = serve.exitStatus(timeout: 30)
        #expect(status != nil, "it stops within the grace period, not after VB365's answer")
        if signal == SIGTERM { #expect(status == 0) }
        #expect(world.state("mike") == "adding-organization", "left where the next start continues")
        #expect(world.simulator.storedOrganizations().count == 1)

        world.simulator.delay("POST Organizations", seconds: 0)
        let again = try world.serve(name: "again")
        _ = try again.ready()
        #expect(waitUntil(90) { world.state("mike") == "onboarded" }, "\(again.stderr.suffix(1500))")
        again.signal(SIGTERM)
        #expect(again.exitStatus() == 0)

        #expect(world.simulator.storedOrganizations().count == 1, "exactly one organization")
        #expect(world.posts() == 1, "found with GET Organizations, never sent twice")
        let status2 = try world.run(["onboard", "status", "mike", "--json"])
        #expect(status2.stdout.contains("\"organizationId\""), "\(status2.stdout)")
    }

    @Test("SIGTERM with an add that ends within the grace period: the add finishes before the process exits")
    func drainWithinGrace() throws {
        let world = try ServeWorld(grace: 20)
        let start = try world.run(["onboard", "start", "november", "--org-name", "november.onmicrosoft.com", "--json"])
        #expect(start.status == 0, "\(start.stderr)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(start.stdout.utf8)) as? [String: Any])
        world.simulator.delay("POST Organizations", seconds: 2)
        let serve = try world.serve()
        _ = try serve.ready()
        world.simulator.signIn(userCode: try #require(record["userCode"] as? String))
        #expect(waitUntil { world.state("november") == "adding-organization" })
        serve.signal(SIGTERM)
        #expect(serve.exitStatus(timeout: 30) == 0)
        #expect(world.state("november") == "onboarded", "the add in flight was given time to finish")
        #expect(world.posts() == 1)
    }
}
