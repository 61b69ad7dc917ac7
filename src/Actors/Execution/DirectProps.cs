using Akka.Actor;

namespace Scheduler.Actors.Execution;

/// <summary>
/// Props whose actor is made by a plain factory call. <c>Props.Create(() => new X(...))</c> costs on every job: Akka walks
/// the expression and reads each argument by reflection (compiling a lambda for one that is not a plain variable), then
/// makes each instance through reflection over the constructor. Here the arguments are captured once by the closure and each
/// start or restart calls <paramref name="create"/> again, as Akka does with the expression's arguments.
/// </summary>
public static class DirectProps
{
    public static Props Of<TActor>(Func<TActor> create) where TActor : ActorBase => Props.CreateBy(new Producer<TActor>(create));

    private sealed class Producer<TActor>(Func<TActor> create) : IIndirectActorProducer where TActor : ActorBase
    {
        public Type ActorType => typeof(TActor);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }
}
