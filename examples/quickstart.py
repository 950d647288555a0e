"""Quick start: the reference callback-class example, run against the built-in mock provider.

Runs with no network and no API key. Each hook prints what it saw; the script then shows
the callback delivery statistics. Run it with `make run`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import llmrelay
from llmrelay import acompletion, completion
from llmrelay.integrations.custom_logger import CustomLogger


class MyCustomHandler(CustomLogger):
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        body = kwargs["additional_args"]["complete_input_dict"]
        print(f"Pre-API Call     model={model} body keys={sorted(body)}")

    def log_post_api_call(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        print("Post-API Call")

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        text = response_obj.choices[0].message.content
        print(f"On Success       {text!r} cost=${kwargs['response_cost']:.8f} "
              f"stream={kwargs['stream']} took={(end_time - start_time).total_seconds():.4f}s")

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        print(f"On Failure       {kwargs['exception']!r}")

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        usage = kwargs["standard_logging_object"]
        print(f"On Async Success tokens={usage['total_tokens']} "
              f"call_type={kwargs['call_type']}")

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        print(f"On Async Failure {type(kwargs['exception']).__name__}")


def main() -> None:
    llmrelay.callbacks = [MyCustomHandler()]
    mock = "Hi there, I am a mock reply streamed word by word."

    print("== sync, streamed")
    response = completion(model="gpt-3.5-turbo",
                          messages=[{"role": "user", "content": "Hi  - i'm openai"}],
                          stream=True, mock_response=mock)
    for _chunk in response:
        continue
    llmrelay.flush()

    print("== async, streamed")

    async def run_async() -> None:
        response = await acompletion(model="gpt-3.5-turbo",
                                     messages=[{"role": "user", "content": "Hi  - i'm openai"}],
                                     stream=True, mock_response=mock)
        async for _chunk in response:
            continue

    asyncio.run(run_async())
    llmrelay.flush()

    print("== sync, failure")
    try:
        completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hi"}],
                   mock_response=llmrelay.RateLimitError("slow down (mock)"))
    except llmrelay.RateLimitError as exc:
        print(f"caller got       {exc}")
    llmrelay.flush()

    print("== callback stats")
    for name, stats in llmrelay.callback_stats().items():
        print(f"{name}: {stats}")


if __name__ == "__main__":
    main()
