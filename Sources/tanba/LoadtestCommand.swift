import ArgumentParser
import Foundation
import Synchronization
import TanbaCore
import TanbaWire

struct LoadtestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest", abstract: "Load tests against a running cluster.", subcommands: [LoadtestBurst.self])
}

/// `tanba loadtest burst`: enrolls a synthetic gallery (template-level generator,
/// impression 0 of persons 0…N-1; persons already enrolled are kept), then fires
/// identification requests (impression 1 of a person, mated probes) with a fixed number in
/// flight, and prints one JSON object.
///
/// Counting: `ok` = complete answers, `partial` = answers marked partial, `errors` =
/// requests that failed (transport or ERROR answer); requests = ok + partial + errors.
/// `rank1_hit_rate` = answers whose first candidate is the probe's person / (ok + partial).
/// `complete_misses` = complete answers that do not list the probe's person at all: the
/// silent misses a failure must never cause (a partial answer is an explicit one).
///
/// `--event-at S --event CMD` runs a shell command S seconds into the identification burst
/// (e.g. `kill -9` of a worker, or starting a worker and `tanba cluster add-worker`) and
/// adds per-phase figures: requests started before and after the event, and how long after
/// the event the last incomplete (partial or failed) answer came back.
struct LoadtestBurst: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burst", abstract: "Enroll a synthetic gallery, then fire identification bursts; print one JSON object.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Persons in the synthetic gallery.") var persons: Int = 1000
    @Option(help: "Identification requests.") var requests: Int = 1000
    @Option(help: "Requests in flight at once.") var concurrency: Int = 16
    @Option(help: "Fingers per enrollment and probe (1-10).") var fingers: Int = 10
    @Flag(help: "Do not enroll (the gallery is already there, e.g. from `tanba cluster seed`).") var skipEnroll = false
    @Option(help: "Seconds into the identification burst at which to run --event.") var eventAt: Double?
    @Option(help: "Shell command run at --event-at (its output goes to standard error).") var event: String?
    @Flag(help: "Print only the JSON object.") var json = false

    func validate() throws {
        guard persons > 0, requests > 0, concurrency > 0 else { throw ValidationError("persons, requests and concurrency must be > 0") }
        guard (1...10).contains(fingers) else { throw ValidationError("--fingers must be 1-10") }
        guard (eventAt == nil) == (event == nil) else { throw ValidationError("--event-at and --event go together") }
    }

    /// One identification's outcome, times relative to the burst's start.
    struct Outcome {
        enum Kind { case complete, partial, failed }
        var started: Double, ended: Double
        var kind: Kind
        var rank1: Bool, listed: Bool
    }

    /// Figures over a set of outcomes.
    static func figures(_ list: [Outcome], seconds: Double?) -> [(String, Any)] {
        let ms = list.map { ($0.ended - $0.started) * 1000 }.sorted()
        func percentile(_ q: Double) -> Double {
            guard !ms.isEmpty else { return 0 }
            return ms[min(ms.count - 1, Int((q * Double(ms.count)).rounded(.up)) - 1)]
        }
        let answered = list.filter { $0.kind != .failed }
        var out: [(String, Any)] = [
            ("requests", list.count), ("ok", list.filter { $0.kind == .complete }.count),
            ("errors", list.filter { $0.kind == .failed }.count), ("partial", list.filter { $0.kind == .partial }.count),
            ("complete_misses", list.filter { $0.kind == .complete && !$0.listed }.count),
        ]
        if let seconds { out.append(("throughput_rps", round(Double(answered.count) / max(seconds, 1e-9)))) }
        out += [("p50_ms", round(percentile(0.5))), ("p95_ms", round(percentile(0.95))), ("p99_ms", round(percentile(0.99))),
                ("max_ms", round(ms.last ?? 0)),
                ("rank1_hit_rate", round(answered.isEmpty ? 0 : Double(answered.filter(\.rank1).count) / Double(answered.count), places: 4))]
        return out
    }

    static func object(_ pairs: [(String, Any)]) -> String {
        "{" + pairs.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// Runs `count` jobs with at most `width` in flight.
    static func pool(count: Int, width: Int, _ job: @escaping @Sendable (Int) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(width, count) { let i = next; group.addTask { await job(i) }; next += 1 }
            while await group.next() != nil {
                if next < count { let i = next; group.addTask { await job(i) }; next += 1 }
            }
        }
    }

    func run() async throws {
        let (caller, c, transport) = try client.caller()
        defer { transport.shutdown() }
        let deadline = Duration.milliseconds(c.deadlineMs)
        let fingers = self.fingers, persons = self.persons
        func log(_ s: String) { if !json { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

        if !skipEnroll {
            let enrolled = Atomic<Int>(0), held = Atomic<Int>(0), failed = Atomic<Int>(0)
            let start = ContinuousClock.now
            await Self.pool(count: persons, width: concurrency) { p in
                // Fingers beyond --fingers are excepted with a reason: the coordinator refuses a
                // ten-print with fingers neither captured nor excepted [BIO 6, 7].
                let request = WireMessage.enroll(EnrollRequest(iin: Synthetic.iin(person: p),
                                                               record: Synthetic.record(person: p, impression: 0, fingers: fingers),
                                                               exceptions: FingerPosition.tenPrint.dropFirst(fingers).map {
                                                                   FingerException(position: $0, kind: .bandaged, reason: "load test: not captured")
                                                               }))
                do {
                    // Written consent first, as a station sends it [BIO 3]: no ENROLL without it.
                    _ = try await caller.call(try ClientOptions.consent(iin: Synthetic.iin(person: p), signedBy: caller.identity, branch: "loadtest"),
                                              to: c.coordinatorName, at: c.coordinator, deadline: deadline)
                    guard case .enrollAnswer(let a) = try await caller.call(request, to: c.coordinatorName, at: c.coordinator, deadline: deadline) else {
                        failed.add(1, ordering: .relaxed); return
                    }
                    if a.outcome == .heldForAdjudication { held.add(1, ordering: .relaxed) } else { enrolled.add(1, ordering: .relaxed) }
                } catch {
                    failed.add(1, ordering: .relaxed)
                    FileHandle.standardError.write(Data("enroll \(p): \(error)\n".utf8))
                }
            }
            log("enrolled \(enrolled.load(ordering: .relaxed)) persons (\(held.load(ordering: .relaxed)) held, \(failed.load(ordering: .relaxed)) failed) in \(ContinuousClock.now - start)")
        }

        let outcomes = Mutex<[Outcome]>([])
        let start = ContinuousClock.now
        @Sendable func now() -> Double { (ContinuousClock.now - start).milliseconds / 1000 }
        let record = EventRecord()
        let eventTask: Task<Void, Never>? = event.map { command in
            let delay = eventAt ?? 0
            return Task.detached {
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                record.time.withLock { $0 = now() }
                FileHandle.standardError.write(Data("burst: event at \(String(format: "%.1f", now())) s: \(command)\n".utf8))
                // posix_spawn + waitpid rather than Foundation's Process: on Linux its
                // waitUntilExit spun a core and never returned once the command had started a
                // background worker (the grandchild kept something of the parent's open).
                // The command's standard output goes to standard error: stdout is the JSON.
                let status = await Offloaded.run(["/bin/sh", "-c", "exec 1>&2; " + command])
                record.status.withLock { $0 = status }
                FileHandle.standardError.write(Data("burst: event finished at \(String(format: "%.1f", now())) s, exit \(status)\n".utf8))
            }
        }
        await Self.pool(count: requests, width: concurrency) { i in
            let person = (i &* 7919) % persons
            // A fresh impression (1-3) of an enrolled person: never a copy of the gallery's impression 0.
            let probe = Synthetic.record(person: person, impression: 1 + i % 3, fingers: fingers)
            let iin = Synthetic.iin(person: person)
            let t0 = now()
            var outcome = Outcome(started: t0, ended: t0, kind: .failed, rank1: false, listed: false)
            do {
                let answer = try await caller.call(.identify(IdentifyRequest(probe: probe, topK: 10)), to: c.coordinatorName,
                                                   at: c.coordinator, deadline: deadline)
                if case .identifyAnswer(let a) = answer {
                    outcome.kind = a.coverage.isPartial ? .partial : .complete
                    outcome.rank1 = a.candidates.first?.iin == iin
                    outcome.listed = a.candidates.contains { $0.iin == iin }
                    if !a.coverage.isPartial && !outcome.listed {
                        FileHandle.standardError.write(Data("identify \(i): complete answer without person \(person)\n".utf8))
                    }
                }
            } catch {
                FileHandle.standardError.write(Data("identify \(i): \(error)\n".utf8))
            }
            outcome.ended = now()
            outcomes.withLock { $0.append(outcome) }
        }
        let elapsed = now()
        await eventTask?.value
        let all = outcomes.withLock { $0 }
        var pairs: [(String, Any)] = [("persons", persons), ("concurrency", concurrency)] + Self.figures(all, seconds: elapsed)
        if let at = record.time.withLock({ $0 }) {
            let before = all.filter { $0.started < at }, after = all.filter { $0.started >= at }
            let lastIncomplete = all.filter { $0.kind != .complete && $0.ended >= at }.map(\.ended).max()
            pairs += [("event_at_s", Self.round(at)), ("event_exit", record.status.withLock { $0 } ?? -2),
                      ("incomplete_after_event", all.filter { $0.kind != .complete && $0.ended >= at }.count),
                      ("complete_again_after_ms", Self.round(((lastIncomplete ?? at) - at) * 1000)),
                      ("before", Self.object(Self.figures(before, seconds: nil))),
                      ("after", Self.object(Self.figures(after, seconds: nil)))]
        }
        print(Self.object(pairs))
    }

    static func round(_ v: Double, places: Int = 2) -> Double {
        let f = pow(10, Double(places))
        return (v * f).rounded() / f
    }
}

/// When the burst's event ran and how it ended (shared with the task that runs it).
final class EventRecord: Sendable {
    let time = Mutex<Double?>(nil)
    let status = Mutex<Int32?>(nil)
}

/// Runs a child process to its end without holding a cooperative-pool thread (an
/// add-worker runs for minutes). Returns its exit status, or -1 if it could not start.
enum Offloaded {
    static func run(_ arguments: [String]) async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            DispatchQueue.global().async {
                var pid: pid_t = 0
                var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
                defer { for p in argv { free(p) } }
                guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { c.resume(returning: -1); return }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS are macros: decode the wait status by hand.
                c.resume(returning: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
            }
        }
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15 }
}
