"""Call types served over a wire's chat API when the wire has no API of its own for
them: Anthropic's Messages API (:mod:`.messages_chat`) and OpenAI's Responses API
(:mod:`.responses_chat`) on every other provider. A bridge is pure translation like any
provider: the request becomes a chat request to the wrapped wire, and the chat reply
(or each stream chunk) becomes the call type's own shape."""
