internal import NIOCore

/// Runs Swift tasks on one NIO event loop: the simulator's handlers then never wait for a
/// thread of Swift's cooperative pool, which synchronous callers (tests blocked in libcurl, a
/// test thread in ``VB365Simulator/stop()``) may be holding, all of them on a 2-core machine.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
