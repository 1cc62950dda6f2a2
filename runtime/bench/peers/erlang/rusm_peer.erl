%% The Erlang/OTP side of `ci/bench`: the programs rusm's actor figures run,
%% written the Erlang way and timed the same way (wall clock around the
%% whole batch, a monotonic clock around each round trip). Prints one
%% `key value` line per figure; rusm-bench reads them.
%%
%%   erl -noshell -pa <dir of rusm_peer.beam> -eval 'rusm_peer:main(200000, 200000, 2000)'
-module(rusm_peer).
-behaviour(supervisor).
-export([main/3, init/1, start_crasher/1]).

%% Processes spawned at once, as rusm's spawn benchmark does.
-define(BATCH, 1000).

main(Spawns, Rounds, Restarts) ->
    %% A crash is reported by the logger; rusm's node logs nothing here
    %% either, so neither side pays for formatting reports.
    logger:set_primary_config(level, none),
    spawn_exit(Spawns),
    round_trips(Rounds),
    restarts(Restarts),
    halt(0).

%% spawn_monitor of a process that returns at once, BATCH at a time, each
%% batch's DOWNs awaited before the next.
spawn_exit(Total) ->
    Start = now_us(),
    spawn_batches(Total div ?BATCH),
    report(spawn_exit_per_s, Total * 1.0e6 / (now_us() - Start)).

spawn_batches(0) -> ok;
spawn_batches(N) ->
    [spawn_monitor(fun() -> ok end) || _ <- lists:seq(1, ?BATCH)],
    await_downs(?BATCH),
    spawn_batches(N - 1).

await_downs(0) -> ok;
await_downs(N) -> receive {'DOWN', _, process, _, _} -> await_downs(N - 1) end.

%% A pinger process sends a binary to an echo process and waits for it to
%% come back, Rounds times, timing each round.
round_trips(Rounds) ->
    Echo = spawn(fun echo/0),
    Bench = self(),
    spawn(fun() ->
        Start = now_us(),
        Latencies = ping(Echo, Rounds, []),
        Bench ! {pinged, now_us() - Start, Latencies}
    end),
    receive
        {pinged, Elapsed, Latencies} ->
            exit(Echo, kill),
            Sorted = lists:sort(Latencies),
            report(round_trips_per_s, Rounds * 1.0e6 / Elapsed),
            report(round_trip_p50_us, percentile(Sorted, 0.50)),
            report(round_trip_p99_us, percentile(Sorted, 0.99))
    end.

echo() ->
    receive {From, Bytes} -> From ! {self(), Bytes} end,
    echo().

ping(_, 0, Latencies) -> Latencies;
ping(Echo, N, Latencies) ->
    Sent = erlang:monotonic_time(nanosecond),
    Echo ! {self(), <<"ping">>},
    receive {Echo, <<"ping">>} -> ok end,
    Took = (erlang:monotonic_time(nanosecond) - Sent) / 1000,
    ping(Echo, N - 1, [Took | Latencies]).

percentile(Sorted, Q) ->
    lists:nth(trunc((length(Sorted) - 1) * Q) + 1, Sorted).

%% A one_for_one supervisor over one child that crashes as soon as it
%% starts, restarted Total times in all. OTP's supervisor keeps every
%% restart within its period in a list it filters on each restart, so one
%% supervisor slows down quadratically over thousands of restarts (rusm's
%% prunes a queue from the front): the restarts are spread over
%% supervisors of ?PER_SUPERVISOR restarts each, started one after another.
-define(PER_SUPERVISOR, 100).

restarts(Total) ->
    Start = now_us(),
    [supervise(?PER_SUPERVISOR) || _ <- lists:seq(1, Total div ?PER_SUPERVISOR)],
    report(restarts_per_s, Total * 1.0e6 / (now_us() - Start)).

%% One supervisor, until its child has been restarted Restarts times.
supervise(Restarts) ->
    Counter = counters:new(1, []),
    {ok, Sup} = supervisor:start_link(?MODULE, {Counter, self(), Restarts}),
    receive restarted -> ok end,
    unlink(Sup),
    exit(Sup, kill).

init({Counter, Bench, Total}) ->
    Flags = #{strategy => one_for_one, intensity => Total + 1, period => 3600},
    Child = #{id => crasher,
              start => {?MODULE, start_crasher, [{Counter, Bench, Total}]},
              restart => permanent},
    {ok, {Flags, [Child]}}.

%% The child's start function runs in the supervisor: it counts starts, and
%% after Total restarts tells the bench instead of crashing again.
start_crasher({Counter, Bench, Total}) ->
    counters:add(Counter, 1, 1),
    case counters:get(Counter, 1) > Total of
        true ->
            Bench ! restarted,
            {ok, spawn_link(fun() -> receive stop -> ok end end)};
        false ->
            {ok, spawn_link(fun() -> exit(crash) end)}
    end.

report(Key, Value) -> io:format("~s ~.3f~n", [Key, float(Value)]).

now_us() -> erlang:monotonic_time(microsecond).
