using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests;

/// <summary>What the linked <c>FakeCluster.cs</c> (its planner) needs of the actor tests' data.</summary>
internal static class TestData
{
    public static readonly RunnerIdentity Identity = new("bench", "bench", "amd64", "dispatch-bench");
}
